//! Secrets Moat must read back (TOTP seeds now; LDAP bind passwords and DKIM keys next) are kept sealed
//! in the store: AES-256-GCM under a key file in the data dir (mode 0600), never in clear. A sealed value
//! names its key, so keys can rotate: new values are sealed with the newest key, older keys still open
//! what they sealed.

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use thiserror::Error;

const PREFIX: &str = "moat-sealed:v1:";
/// The key file's name in the data dir.
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, Error)]
pub enum SealError {
    #[error("cannot read or write the key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("the key file {0} is damaged (expected lines of: KEY-ID 64-HEX-DIGITS)")]
    BadKeyFile(String),
    #[error("a sealed secret names key {0}, which the key file does not hold")]
    UnknownKey(String),
    #[error("a sealed secret could not be opened (damaged, or sealed with another key)")]
    Damaged,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The keys secrets are sealed with; the last one seals, every one opens.
pub struct Keyring {
    keys: Vec<Key>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("keys", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>()).finish()
    }
}

fn new_key_line() -> String {
    let mut bytes = [0u8; 36];
    SystemRandom::new().fill(&mut bytes).expect("the system's random source");
    format!("{} {}\n", hex::encode(&bytes[32..]), hex::encode(&bytes[..32]))
}

impl Keyring {
    /// The keys of `data_dir`'s key file, made (mode 0600) with one new key when it does not exist.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SealError> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| SealError::KeyFile { path: path.display().to_string(), source };
        if !path.exists() {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(io)?;
            file.write_all(new_key_line().as_bytes()).and_then(|_| file.sync_all()).map_err(io)?;
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        Self::parse(&text).ok_or_else(|| SealError::BadKeyFile(path.display().to_string()))
    }

    /// A keyring with one random key that lives only in memory (tests, and tools that seal nothing kept).
    pub fn ephemeral() -> Self {
        Self::parse(&new_key_line()).expect("a generated key line parses")
    }

    fn parse(text: &str) -> Option<Self> {
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (id, hex_key) = line.split_once(' ')?;
                let bytes = hex::decode(hex_key.trim()).ok()?;
                let key = UnboundKey::new(&AES_256_GCM, &bytes).ok()?;
                Some(Key { id: id.to_owned(), key: LessSafeKey::new(key) })
            })
            .collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then_some(Self { keys })
    }

    /// `plaintext` sealed with the newest key: `moat-sealed:v1:KEY-ID:BASE64(nonce ‖ ciphertext ‖ tag)`.
    pub fn seal(&self, plaintext: &str) -> String {
        let key = self.keys.last().expect("a keyring holds a key");
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("the system's random source");
        let mut sealed = plaintext.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(key.id.as_bytes()), &mut sealed)
            .expect("AES-GCM seals any length Moat stores");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{PREFIX}{}:{}", key.id, base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
    }

    /// The plaintext of a sealed value.
    pub fn open(&self, sealed: &str) -> Result<String, SealError> {
        let (id, data) = sealed.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).ok_or(SealError::Damaged)?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(data).map_err(|_| SealError::Damaged)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Damaged)?;
        let mut rest = rest.to_vec();
        let plain =
            key.key.open_in_place(nonce, Aad::from(key.id.as_bytes()), &mut rest).map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Damaged)
    }

    /// Whether a stored value is sealed (values stored before sealing existed are not).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_hide_the_plaintext() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("JBSWY3DPEHPK3PXP");
        assert!(Keyring::is_sealed(&sealed) && !sealed.contains("JBSWY3DPEHPK3PXP"), "{sealed}");
        assert_ne!(sealed, ring.seal("JBSWY3DPEHPK3PXP"), "a fresh nonce each time");
        assert_eq!(ring.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert!(matches!(Keyring::ephemeral().open(&sealed), Err(SealError::UnknownKey(_))));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open(&tampered).is_err());
    }

    #[test]
    fn the_key_file_is_made_once_private_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keyring::load_or_create(dir.path()).unwrap();
        let sealed = first.seal("secret");
        let again = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "secret", "the same key file opens what it sealed");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // A second key appended: it seals from now on, the first still opens.
        let mut text = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        text.push_str(&new_key_line());
        std::fs::write(dir.path().join(KEY_FILE), text).unwrap();
        let rotated = Keyring::load_or_create(dir.path()).unwrap();
        assert_eq!(rotated.open(&sealed).unwrap(), "secret");
        assert_ne!(rotated.seal("x").split(':').nth(2), sealed.split(':').nth(2), "new values use the new key");
    }
}
