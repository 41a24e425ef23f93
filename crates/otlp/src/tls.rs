//! TLS material: the CA that verifies the receiver (`OTEL_EXPORTER_OTLP_CERTIFICATE`) and
//! the client identity shown to it (`..._CLIENT_CERTIFICATE`, `..._CLIENT_KEY`), read from
//! PEM files or given in memory, turned into the HTTP client's TLS configuration.
//!
//! Without a CA, servers are verified against Mozilla's root certificates (`webpki-roots`).
//! With one, only that CA (every certificate in the PEM) is trusted, as in the other
//! OpenTelemetry SDKs.

use std::fmt;
use std::path::PathBuf;

#[cfg(feature = "tls")]
use crate::error::ConfigError;

/// Where one PEM document comes from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Pem {
    /// A file, read at build.
    File(PathBuf),
    /// PEM text given in memory.
    Bytes(Vec<u8>),
}

impl Pem {
    /// The path, or `<PEM>` for in-memory PEM: how errors name it.
    fn name(&self) -> String {
        match self {
            Pem::File(p) => p.display().to_string(),
            Pem::Bytes(_) => "<PEM>".to_owned(),
        }
    }

    #[cfg(feature = "tls")]
    fn read(&self) -> Result<std::borrow::Cow<'_, [u8]>, ConfigError> {
        match self {
            Pem::File(p) => std::fs::read(p)
                .map(Into::into)
                .map_err(|e| self.invalid(format!("cannot be read: {e}"))),
            Pem::Bytes(b) => Ok(b.as_slice().into()),
        }
    }

    #[cfg(feature = "tls")]
    fn invalid(&self, reason: String) -> ConfigError {
        ConfigError::InvalidTlsFile {
            path: self.name(),
            reason,
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the bytes: a key may be among them.
        f.write_str(&self.name())
    }
}

/// The TLS settings of an exporter. Empty: Mozilla's roots, no client certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// Trusted CA certificates (replace the default roots).
    pub ca: Option<Pem>,
    /// Client certificate chain.
    pub client_cert: Option<Pem>,
    /// The client certificate's private key.
    pub client_key: Option<Pem>,
}

impl TlsSettings {
    /// Whether anything differs from the defaults.
    #[cfg(not(feature = "tls"))]
    pub fn is_set(&self) -> bool {
        self.ca.is_some() || self.client_cert.is_some() || self.client_key.is_some()
    }

    /// Reads the PEM documents and makes the client's TLS configuration.
    #[cfg(feature = "tls")]
    pub fn client_config(&self) -> Result<ureq::tls::TlsConfig, ConfigError> {
        use ureq::tls::{ClientCert, RootCerts, TlsConfig};

        let mut config = TlsConfig::builder();
        if let Some(ca) = &self.ca {
            let (certs, _) = parse(ca)?;
            if certs.is_empty() {
                return Err(ca.invalid("holds no CERTIFICATE".into()));
            }
            config = config.root_certs(RootCerts::new_with_certs(&certs));
        }
        match (&self.client_cert, &self.client_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                let (chain, _) = parse(cert)?;
                if chain.is_empty() {
                    return Err(cert.invalid("holds no CERTIFICATE".into()));
                }
                let (_, keys) = parse(key)?;
                let key_item = keys
                    .into_iter()
                    .next()
                    .ok_or_else(|| key.invalid("holds no PRIVATE KEY".into()))?;
                config = config.client_cert(Some(ClientCert::new_with_certs(&chain, key_item)));
            }
            _ => return Err(ConfigError::IncompleteClientIdentity),
        }
        Ok(config.build())
    }
}

/// The gRPC client's TLS configuration from the same settings: the CA (or Mozilla's
/// roots), the client identity, checked the same way as for HTTP.
#[cfg(all(feature = "tls", feature = "grpc"))]
impl TlsSettings {
    pub fn grpc_config(
        &self,
        domain: &str,
    ) -> Result<tonic::transport::ClientTlsConfig, ConfigError> {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};

        let mut config = ClientTlsConfig::new().domain_name(domain);
        match &self.ca {
            Some(ca) => {
                let (certs, _) = parse(ca)?;
                if certs.is_empty() {
                    return Err(ca.invalid("holds no CERTIFICATE".into()));
                }
                config = config.ca_certificate(Certificate::from_pem(ca.read()?));
            }
            None => config = config.with_webpki_roots(),
        }
        match (&self.client_cert, &self.client_key) {
            (None, None) => {}
            (Some(cert), Some(key)) => {
                if parse(cert)?.0.is_empty() {
                    return Err(cert.invalid("holds no CERTIFICATE".into()));
                }
                if parse(key)?.1.is_empty() {
                    return Err(key.invalid("holds no PRIVATE KEY".into()));
                }
                config = config.identity(Identity::from_pem(cert.read()?, key.read()?));
            }
            _ => return Err(ConfigError::IncompleteClientIdentity),
        }
        Ok(config)
    }
}

/// The certificates and private keys in one PEM document.
#[cfg(feature = "tls")]
#[allow(clippy::type_complexity)]
fn parse(
    pem: &Pem,
) -> Result<
    (
        Vec<ureq::tls::Certificate<'static>>,
        Vec<ureq::tls::PrivateKey<'static>>,
    ),
    ConfigError,
> {
    use ureq::tls::PemItem;

    let bytes = pem.read()?;
    let (mut certs, mut keys) = (Vec::new(), Vec::new());
    for item in ureq::tls::parse_pem(&bytes) {
        match item.map_err(|e| pem.invalid(format!("not valid PEM: {e}")))? {
            PemItem::Certificate(c) => certs.push(c),
            PemItem::PrivateKey(k) => keys.push(k),
            _ => {}
        }
    }
    Ok((certs, keys))
}
