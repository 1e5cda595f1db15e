//! TLS configuration built from [`Config`]: certificates and keys loaded from PEM files,
//! failing closed with an error that names the config key and the file.
//!
//! One crypto provider, `ring`, is used everywhere (see the README for why).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::fmt;
use std::sync::Arc;
use theater_tcp_core::{Config, TlsInfo};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A TLS setting that cannot be loaded; the driver does not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfigError {
    /// The config key, dotted (`server_tls.cert`).
    pub key: String,
    /// The file named by that key, if the problem is with a file.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(
                f,
                "cannot load `{}` from {path}: {}",
                self.key, self.message
            ),
            None => write!(f, "invalid `{}`: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for TlsConfigError {}

/// The crypto provider of every TLS config in this crate.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What the driver needs to run handshakes: present for each role the config enables.
#[derive(Clone, Default)]
pub struct TlsContext {
    /// Server side, when `server_tls.enabled`.
    pub acceptor: Option<TlsAcceptor>,
    /// Client side, when `client_tls.enabled`.
    pub connector: Option<TlsConnector>,
}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsContext")
            .field("server", &self.acceptor.is_some())
            .field("client", &self.connector.is_some())
            .finish()
    }
}

impl TlsContext {
    /// Loads every enabled TLS setting of `config`; the first failure is returned.
    pub fn from_config(config: &Config) -> Result<TlsContext, TlsConfigError> {
        TlsContext::from_config_with_time(config, None)
    }

    /// [`from_config`](Self::from_config) with the clock certificates are checked against
    /// (`None`: the system clock; the simulation passes its simulated clock).
    pub fn from_config_with_time(
        config: &Config,
        time: Option<Arc<dyn rustls::time_provider::TimeProvider>>,
    ) -> Result<TlsContext, TlsConfigError> {
        let time = time.unwrap_or_else(|| Arc::new(rustls::time_provider::DefaultTimeProvider));
        let mut context = TlsContext::default();
        if let Some(server) = config.server_tls.as_ref().filter(|s| s.enabled) {
            let certs = load_certs("server_tls.cert", &server.cert)?;
            let key = load_key("server_tls.key", &server.key)?;
            let tls = ServerConfig::builder_with_details(provider(), time.clone())
                .with_safe_default_protocol_versions()
                .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
                .map_err(|e| TlsConfigError {
                    key: "server_tls.key".into(),
                    path: Some(server.key.clone()),
                    message: format!("does not fit the certificate: {e}"),
                })?;
            context.acceptor = Some(TlsAcceptor::from(Arc::new(tls)));
        }
        let client = &config.client_tls;
        if client.enabled {
            let builder = ClientConfig::builder_with_details(provider(), time)
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsConfigError {
                    key: "client_tls".into(),
                    path: None,
                    message: e.to_string(),
                })?;
            let tls = if client.danger_skip_verify {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(DangerAcceptAnyServer(
                        provider().signature_verification_algorithms,
                    )))
                    .with_no_client_auth()
            } else {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                if let Some(path) = &client.ca_cert {
                    for cert in load_certs("client_tls.ca_cert", path)? {
                        roots.add(cert).map_err(|e| TlsConfigError {
                            key: "client_tls.ca_cert".into(),
                            path: Some(path.clone()),
                            message: format!("not a usable trust anchor: {e}"),
                        })?;
                    }
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            };
            context.connector = Some(TlsConnector::from(Arc::new(tls)));
        }
        Ok(context)
    }
}

fn load_certs(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let fail = |message: String| TlsConfigError {
        key: key.into(),
        path: Some(path.into()),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(pem_error(e)))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn load_key(key: &str, path: &str) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsConfigError {
        key: key.into(),
        path: Some(path.into()),
        message: pem_error(e),
    })
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        other => format!("malformed PEM: {other:?}"),
    }
}

/// `client_tls.skip_verify`: accepts any server certificate, still checking that the
/// handshake signatures are made by the presented key. For tests against self-signed peers.
#[derive(Debug)]
struct DangerAcceptAnyServer(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for DangerAcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// What a finished handshake negotiated, for `tls-info`.
pub(crate) fn info(state: &rustls::CommonState) -> TlsInfo {
    let protocol = match state.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let cipher_suite = state
        .negotiated_cipher_suite()
        .map(|s| {
            let name = s.suite();
            name.as_str()
                .map_or_else(|| format!("{name:?}"), str::to_owned)
        })
        .unwrap_or_default();
    TlsInfo {
        protocol,
        cipher_suite,
        alpn: state
            .alpn_protocol()
            .map(|a| String::from_utf8_lossy(a).into_owned()),
        peer_certificates: state
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default(),
    }
}
