//! TLS inside the simulation: the simulated clock as rustls' time source, and certificates
//! made deterministically (fixed Ed25519 keys, fixed serials, validity around [`EPOCH`]), so
//! that a handshake under a seed is the same run after run and on every machine.
//!
//! Ed25519 is chosen on purpose: its signatures have a fixed length, so handshake messages
//! have the same sizes every run and the seeded fault layer cuts them at the same places
//! (ECDSA's DER signatures vary by a byte or two). Key shares and randoms still come from
//! `ring`'s system RNG: ciphertext bytes differ between runs, their lengths do not, and the
//! core only ever sees plaintext.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PKCS_ED25519,
    SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_rustls::TlsConnector;

/// The simulated wall clock's start: 2026-01-01T00:00:00Z. Certificates are valid from a
/// month before to a month after it only, so a handshake that checked them against the
/// machine's clock instead of the simulated one would (almost always) fail.
pub const EPOCH_SECS: u64 = 1_767_225_600;

/// [`EPOCH_SECS`] as a `SystemTime`, for `turmoil::Builder::epoch`.
pub fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(EPOCH_SECS)
}

/// rustls' clock inside the simulation: turmoil's simulated time since the Unix epoch. Outside
/// a simulated host it answers the fixed [`EPOCH_SECS`], never the machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimClock;

impl SimClock {
    /// As the `Arc` rustls and `DriverOptions::tls_time` take.
    pub fn shared() -> Arc<dyn TimeProvider> {
        Arc::new(SimClock)
    }
}

impl TimeProvider for SimClock {
    fn current_time(&self) -> Option<UnixTime> {
        let since = turmoil::since_epoch().unwrap_or(Duration::from_secs(EPOCH_SECS));
        Some(UnixTime::since_unix_epoch(since))
    }
}

/// An Ed25519 key pair from a fixed 32-byte seed (PKCS#8 v1, RFC 8410).
fn fixed_key(seed_byte: u8) -> Result<KeyPair, rcgen::Error> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0..32u8).map(|i| i.wrapping_mul(31).wrapping_add(seed_byte)));
    KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), &PKCS_ED25519)
}

/// A CA and a server certificate for one DNS name, as PEM files in a directory.
#[derive(Debug, Clone)]
pub struct SimCertificates {
    /// The CA certificate (trust anchor for clients).
    pub ca_pem: String,
    /// The server's certificate chain (leaf).
    pub cert_pem: String,
    /// The server's private key (PKCS#8).
    pub key_pem: String,
    /// Where [`write_to`](Self::write_to) put them, once it did.
    pub dir: Option<PathBuf>,
}

impl SimCertificates {
    /// Certificates for `name`, the same bytes every time.
    pub fn new(name: &str) -> Result<SimCertificates, rcgen::Error> {
        let validity = |p: &mut CertificateParams, serial: u64| {
            p.not_before = rcgen::date_time_ymd(2025, 12, 2);
            p.not_after = rcgen::date_time_ymd(2026, 1, 31);
            p.serial_number = Some(SerialNumber::from(serial));
        };
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "theater-tcp simulation CA");
        validity(&mut ca, 1);
        let ca = CertifiedIssuer::self_signed(ca, fixed_key(1)?)?;
        let mut leaf = CertificateParams::new(vec![name.to_owned()])?;
        leaf.distinguished_name.push(DnType::CommonName, name);
        validity(&mut leaf, 2);
        let leaf_key = fixed_key(2)?;
        let cert = leaf.signed_by(&leaf_key, &ca)?;
        Ok(SimCertificates {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: leaf_key.serialize_pem(),
            dir: None,
        })
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir` (the driver loads TLS from files).
    pub fn write_to(mut self, dir: &Path) -> std::io::Result<SimCertificates> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.ca_pem)?;
        std::fs::write(dir.join("cert.pem"), &self.cert_pem)?;
        std::fs::write(dir.join("key.pem"), &self.key_pem)?;
        self.dir = Some(dir.to_owned());
        Ok(self)
    }

    /// A TLS client for test peers that trusts only this CA, on the simulated clock
    /// ([`SimClock`]), with the driver's crypto provider (`theater_tcp_tokio::provider()`).
    pub fn connector(&self) -> Result<TlsConnector, String> {
        let mut roots = RootCertStore::empty();
        let ca =
            CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).map_err(|e| format!("{e:?}"))?;
        roots.add(ca).map_err(|e| e.to_string())?;
        let tls =
            ClientConfig::builder_with_details(theater_tcp_tokio::provider(), SimClock::shared())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(tls)))
    }

    /// Path of one of the written files (`ca.pem`, `cert.pem`, `key.pem`).
    pub fn path(&self, file: &str) -> String {
        self.dir
            .as_deref()
            .unwrap_or(Path::new("."))
            .join(file)
            .to_string_lossy()
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_the_same_bytes_every_time() {
        let a = SimCertificates::new("server").expect("certificates");
        let b = SimCertificates::new("server").expect("certificates");
        assert_eq!(a.cert_pem, b.cert_pem);
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.key_pem, b.key_pem);
    }

    #[test]
    fn outside_a_simulation_the_clock_is_the_fixed_epoch() {
        let now = SimClock.current_time().expect("a time");
        assert_eq!(now.as_secs(), EPOCH_SECS);
    }
}
