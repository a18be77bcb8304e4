//! TLS for STARTTLS: the server side from a configured certificate, or a self-signed one generated on first
//! start (so STARTTLS works out of the box), and the opportunistic client side used for delivery.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("certificate and key do not form a usable TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the certificate chain and key from PEM files.
pub fn acceptor_from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| TlsError::Read { path: p.into(), source });
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Read { path: cert.into(), source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: cert.into() });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|source| TlsError::Read { path: key.into(), source })?
        .ok_or_else(|| TlsError::NoKey { path: key.into() })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The acceptor for `hostname` from `dir/cert.pem` and `dir/key.pem`, generating a self-signed pair there
/// first if there is none. Returns whether it generated one.
pub fn self_signed_acceptor(dir: &Path, hostname: &str) -> Result<(TlsAcceptor, bool), TlsError> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let generated = !cert.exists() || !key.exists();
    if generated {
        let pair = rcgen::generate_simple_self_signed(vec![hostname.to_owned()])?;
        std::fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.into(), source })?;
        write_private(&key, pair.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&cert, pair.cert.pem()).map_err(|source| TlsError::Write { path: cert.clone(), source })?;
    }
    Ok((acceptor_from_files(&cert, &key)?, generated))
}

fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| TlsError::Write { path: path.into(), source };
    let mut file =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(err)?;
    file.write_all(contents).map_err(err)
}

/// The client side of opportunistic STARTTLS toward downstream hosts: encryption without certificate checks,
/// as RFC 7435 describes. Internal mail servers mostly have self-signed certificates, and refusing them would
/// only make Moat fall back to plain text.
pub fn opportunistic_connector() -> TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        provider().signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, generated) = self_signed_acceptor(dir.path(), "mx.example.com").unwrap();
        assert!(generated);
        let first = std::fs::read(dir.path().join("cert.pem")).unwrap();
        let (_, generated) = self_signed_acceptor(dir.path(), "mx.example.com").unwrap();
        assert!(!generated);
        assert_eq!(std::fs::read(dir.path().join("cert.pem")).unwrap(), first);
    }

    #[test]
    fn a_file_without_a_key_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        self_signed_acceptor(dir.path(), "mx.example.com").unwrap();
        let cert = dir.path().join("cert.pem");
        let err = acceptor_from_files(&cert, &cert).err().unwrap();
        assert!(err.to_string().contains("no PEM private key"), "{err}");
    }
}
