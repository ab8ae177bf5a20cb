//! The HTTPS listener's TLS: a PEM certificate chain and private key loaded into a rustls
//! server config with ALPN `h2` and `http/1.1`. Every error names the file at fault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key cannot be used; each names its file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no PEM certificate or key, or a broken one.
    #[error("{}: {what}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// rustls refused the pair (for example a key that does not belong to the certificate).
    #[error("{} and {}: {source}", cert.display(), key.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
}

/// Loads `cert` (a PEM chain, leaf first) and `key` (PEM, PKCS#8, PKCS#1 or SEC1) into a server
/// config that offers `h2` and `http/1.1` by ALPN.
pub fn load_server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let pem_error = |path: &Path, what: String| TlsError::Pem {
        path: path.to_owned(),
        what,
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert, format!("not a PEM certificate file ({e})")))?;
    if chain.is_empty() {
        return Err(pem_error(cert, "holds no PEM certificate".to_owned()));
    }
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| pem_error(key, format!("holds no usable PEM private key ({e})")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private_key))
        .map_err(|source| TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Replaces the proxy listener's TLS configuration while it runs (for a config reload): each
/// connection accepted afterwards uses the new one, connections already open keep theirs, and
/// the listener is never closed. `None` makes new connections plain HTTP. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TlsHandle(crate::server::TlsSlot);

impl TlsHandle {
    pub(crate) fn new(config: Option<Arc<rustls::ServerConfig>>) -> Self {
        let slot = arc_swap::ArcSwapOption::new(config.map(acceptor));
        Self(Arc::new(slot))
    }

    /// Uses `config` for every connection accepted from now on.
    pub(crate) fn set_tls(&self, config: Option<Arc<rustls::ServerConfig>>) {
        self.0.store(config.map(acceptor));
    }

    /// Whether new connections get TLS.
    pub(crate) fn is_tls(&self) -> bool {
        self.0.load().is_some()
    }

    pub(crate) fn slot(&self) -> crate::server::TlsSlot {
        self.0.clone()
    }
}

impl std::fmt::Debug for TlsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsHandle")
            .field("tls", &self.is_tls())
            .finish()
    }
}

fn acceptor(config: Arc<rustls::ServerConfig>) -> Arc<tokio_rustls::TlsAcceptor> {
    Arc::new(tokio_rustls::TlsAcceptor::from(config))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A directory of PEM files under the temp dir, removed when dropped.
    struct Files(PathBuf);

    impl Files {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "shadowgate-tls-{name}-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, contents: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).unwrap();
            path
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn identity() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_loads_with_alpn_h2_and_http1() {
        let files = Files::new("ok");
        let (cert, key) = identity();
        let config =
            load_server_config(&files.write("c.pem", &cert), &files.write("k.pem", &key)).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let files = Files::new("missing");
        let (_, key) = identity();
        let cert = files.0.join("absent-cert.pem");
        let error = load_server_config(&cert, &files.write("k.pem", &key)).unwrap_err();
        assert!(matches!(error, TlsError::Read { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&*cert.to_string_lossy()),
            "{error}"
        );
    }

    #[test]
    fn a_file_that_is_not_pem_is_an_error_naming_it() {
        let files = Files::new("notpem");
        let (cert, _) = identity();
        let cert = files.write("c.pem", &cert);
        let key = files.write("k.pem", "this is not a key\n");
        let error = load_server_config(&cert, &key).unwrap_err();
        assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&*key.to_string_lossy()),
            "{error}"
        );

        let garbage = files.write("garbage.pem", "no certificate here\n");
        let (_, key) = identity();
        let error = load_server_config(&garbage, &files.write("k2.pem", &key)).unwrap_err();
        assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&*garbage.to_string_lossy()),
            "{error}"
        );
    }

    #[test]
    fn a_key_that_does_not_match_the_certificate_is_an_error_naming_both() {
        let files = Files::new("mismatch");
        let (cert, _) = identity();
        let (_, other_key) = identity();
        let cert = files.write("c.pem", &cert);
        let key = files.write("k.pem", &other_key);
        let error = load_server_config(&cert, &key).unwrap_err();
        assert!(matches!(error, TlsError::Mismatch { .. }), "{error:?}");
        let text = error.to_string();
        assert!(text.contains(&*cert.to_string_lossy()), "{text}");
        assert!(text.contains(&*key.to_string_lossy()), "{text}");
    }
}
