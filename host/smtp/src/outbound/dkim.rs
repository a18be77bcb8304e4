//! DKIM signing of outgoing mail (RFC 6376; Ed25519 by RFC 8463): every signing key of the From domain
//! signs, so a receiver that knows only RSA still verifies one signature. Keys are opened from the directory
//! at most once a minute per domain (a rotation is live within that), and signing runs off the async
//! workers: an RSA-2048 signature is a millisecond of CPU.

use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use moat_directory::Directory;
use moat_store::DkimAlgorithm;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long opened keys are used before the directory is asked again.
const KEYS_TTL: Duration = Duration::from_secs(60);

/// The header fields signed, when present: what a reader sees and what threads a conversation.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

type Signers = Arc<Vec<DkimSigner<DkimKey, Done>>>;

/// Why a message could not be signed (it is then sent unsigned, and the log says so).
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("cannot read the domain's DKIM keys: {0}")]
    Keys(#[from] moat_directory::DirectoryError),
    #[error("DKIM key {selector} cannot be used: {reason}")]
    BadKey { selector: String, reason: String },
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

struct Opened {
    at: Instant,
    signers: Signers,
}

pub struct Signer {
    directory: Directory,
    cache: Mutex<HashMap<String, Opened>>,
}

impl Signer {
    pub fn new(directory: Directory) -> Self {
        Self { directory, cache: Mutex::default() }
    }

    /// The `DKIM-Signature:` fields to put on top of `message` (sent as `domain`): one per signing key,
    /// none when the domain has no key. An error is the directory's or a key's: the caller sends unsigned.
    pub async fn sign(&self, domain: &str, message: Arc<Vec<u8>>) -> Result<String, DkimError> {
        let signers = self.signers(domain).await?;
        if signers.is_empty() {
            return Ok(String::new());
        }
        tokio::task::spawn_blocking(move || {
            let mut fields = String::new();
            for signer in signers.iter() {
                fields.push_str(&signer.sign(&message).map_err(|e| DkimError::Sign(e.to_string()))?.to_header());
            }
            Ok(fields)
        })
        .await
        .map_err(|e| DkimError::Sign(e.to_string()))?
    }

    async fn signers(&self, domain: &str) -> Result<Signers, DkimError> {
        if let Some(cached) = self.cache.lock().expect("DKIM keys").get(domain)
            && cached.at.elapsed() < KEYS_TTL
        {
            return Ok(cached.signers.clone());
        }
        let mut signers = Vec::new();
        for key in self.directory.dkim_signing_keys(domain).await? {
            let parsed: Result<DkimKey, _> = match key.algorithm {
                DkimAlgorithm::RsaSha256 => {
                    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer};
                    let der = PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(key.private_der));
                    RsaKey::<Sha256>::from_key_der(der).map(DkimKey::from)
                }
                DkimAlgorithm::Ed25519Sha256 => Ed25519Key::from_pkcs8_der(&key.private_der).map(DkimKey::from),
            };
            let parsed =
                parsed.map_err(|e| DkimError::BadKey { selector: key.selector.clone(), reason: e.to_string() })?;
            signers.push(
                DkimSigner::from_key(parsed)
                    .domain(domain)
                    .selector(key.selector)
                    .headers(SIGNED_HEADERS.iter().copied()),
            );
        }
        let signers = Arc::new(signers);
        let opened = Opened { at: Instant::now(), signers: signers.clone() };
        self.cache.lock().expect("DKIM keys").insert(domain.to_owned(), opened);
        Ok(signers)
    }
}
