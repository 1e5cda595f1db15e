//! A self-signed certificate made at run time (rcgen), and the rustls configurations of both
//! sides, all with the `ring` provider passed explicitly.

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate for `localhost` and its key.
pub struct Certificate {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

impl Certificate {
    /// A fresh self-signed certificate for `localhost`.
    pub fn self_signed() -> Result<Certificate, String> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(|e| format!("generating a certificate: {e}"))?;
        Ok(Certificate {
            cert_der: certified.cert.der().to_vec(),
            key_der: certified.signing_key.serialize_der(),
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
        })
    }

    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_pem(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem)
            .map_err(|e| format!("writing {}: {e}", cert.display()))?;
        std::fs::write(&key, &self.key_pem)
            .map_err(|e| format!("writing {}: {e}", key.display()))?;
        Ok((cert, key))
    }

    /// Reads a PEM certificate and key (as [`write_pem`](Self::write_pem) wrote them).
    pub fn read_pem(cert: &Path, key: &Path) -> Result<Certificate, String> {
        let cert_pem = std::fs::read_to_string(cert)
            .map_err(|e| format!("reading {}: {e}", cert.display()))?;
        let key_pem =
            std::fs::read_to_string(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
        let cert_der = pem_body(&cert_pem, "CERTIFICATE")
            .ok_or_else(|| format!("{}: no PEM certificate", cert.display()))?;
        let key_der = pem_body(&key_pem, "PRIVATE KEY")
            .ok_or_else(|| format!("{}: no PKCS#8 PEM key", key.display()))?;
        Ok(Certificate {
            cert_der,
            key_der,
            cert_pem,
            key_pem,
        })
    }

    /// The server side: this certificate and key.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, String> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS server config: {e}"))?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(|e| format!("TLS server config: {e}"))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// The client side: trusts this certificate alone.
    pub fn connector(&self) -> Result<tokio_rustls::TlsConnector, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert_der.clone()))
            .map_err(|e| format!("TLS client roots: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client config: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bytes of the first PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    base64_decode(&pem[start..stop])
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut accumulator = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' | b'\t' => continue,
            _ => return None,
        };
        accumulator = (accumulator << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((accumulator >> bits) as u8);
            accumulator &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let certificate = Certificate::self_signed().unwrap();
        let dir = std::env::temp_dir().join(format!("loadgen-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = certificate.write_pem(&dir).unwrap();
        let read = Certificate::read_pem(&cert, &key).unwrap();
        assert_eq!(read.cert_der, certificate.cert_der);
        assert_eq!(read.key_der, certificate.key_der);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
