//! Passwords and API tokens: the product's password policy, argon2id hashes for passwords, and random tokens
//! of which only a SHA-256 is kept (256 random bits need no slow hash, and the hash finds the token).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sha2::Digest;

/// Characters a password may hold besides letters and digits.
const PASSWORD_SYMBOLS: &str = "_.-";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("passwords are 8 to 64 characters long (this one has {0})")]
    Length(usize),
    #[error("passwords hold only letters, digits and _ . - (not {0:?})")]
    Character(char),
    #[error("this password is too easy to guess: use at least 3 different characters")]
    Repetitive,
    #[error("this password is among the most common ones, which are tried first: choose another")]
    Common,
}

/// The 1,000 most common passwords (see the file's header), lower-case.
static COMMON_PASSWORDS: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| {
        include_str!("common-passwords.txt").lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect()
    });

/// The policy: 8–64 characters, each a letter, a digit or one of `_ . -`.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if !(8..=64).contains(&length) {
        return Err(PasswordError::Length(length));
    }
    if let Some(c) = password.chars().find(|c| !(c.is_ascii_alphanumeric() || PASSWORD_SYMBOLS.contains(*c))) {
        return Err(PasswordError::Character(c));
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 3 {
        return Err(PasswordError::Repetitive);
    }
    if COMMON_PASSWORDS.contains(password.to_ascii_lowercase().as_str()) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// A console account name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account names hold 1 to 64 letters, digits and - _ . @ (got {0:?})")]
pub struct BadAccountName(pub String);

/// Console account names: 1 to 64 letters, digits and `- _ . @` (an address works as a name).
pub fn check_account_name(name: &str) -> Result<(), BadAccountName> {
    let valid =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if valid { Ok(()) } else { Err(BadAccountName(name.chars().take(64).collect())) }
}

/// An argon2id hash (PHC string, salted) of a password that meets the policy.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    check_password(password)?;
    Ok(hash_secret(password))
}

/// An argon2id hash of a secret Moat generated and shows once (an SMTP credential's): no policy to meet.
pub fn hash_secret(secret: &str) -> String {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes make a valid salt");
    Argon2::default().hash_password(secret.as_bytes(), &salt).expect("argon2 with default parameters").to_string()
}

/// The scheme of [`hash_generated_password`].
const GENERATED_SCHEME: &str = "$moat-sha256$";

/// The hash kept of a password Moat generated itself ([`generate_password`]: ~93 random bits). Like API
/// tokens, so much entropy needs no slow hash; this is what lets an import of 100,000 users without
/// passwords finish in seconds instead of hours of argon2. A user's own password is always argon2id.
pub fn hash_generated_password(password: &str) -> String {
    format!("{GENERATED_SCHEME}{}", hex::encode(sha2::Sha256::digest(password.as_bytes())))
}

/// Whether `password` is the one `hash` was made from; a malformed hash never matches.
/// Whether a password verifies against its hash. Every call costs one argon2 verification, whatever the
/// hash: a generated password's SHA-256 alone would answer in microseconds, and that speed would tell a
/// sign-in form's users with generated passwords from unknown names (which are checked against a dummy
/// argon2 hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    if let Some(digest) = hash.strip_prefix(GENERATED_SCHEME) {
        let _ = argon2_verify(password, &DUMMY_HASH);
        let given = hex::encode(sha2::Sha256::digest(password.as_bytes()));
        // Constant time: the comparison does not stop at the first differing byte.
        return given.len() == digest.len()
            && given.bytes().zip(digest.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    }
    argon2_verify(password, hash)
}

/// The hash an unknown account's password is checked against, so every check costs the same.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("No_such_account.7").expect("policy-conforming"));

// Argon2 verifications done on this thread, for the test that every check costs one.
#[cfg(test)]
thread_local!(static ARGON2_VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });

fn argon2_verify(password: &str, hash: &str) -> bool {
    #[cfg(test)]
    ARGON2_VERIFICATIONS.with(|n| n.set(n.get() + 1));
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// A random password that meets the policy (for imports without one): 16 letters and digits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// A new API token (`moat_` and 64 hex digits) and the SHA-256 to keep of it.
pub fn generate_token() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("moat_{}", hex::encode(bytes));
    let digest = token_digest(&token);
    (token, digest)
}

/// What is kept of a token, and looked up when one is presented.
pub fn token_digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_and_the_hashes() {
        assert_eq!(check_password("short"), Err(PasswordError::Length(5)));
        assert_eq!(check_password(&"a".repeat(65)), Err(PasswordError::Length(65)));
        assert_eq!(check_password("with space"), Err(PasswordError::Character(' ')));
        assert_eq!(check_password("Good_pass.1-x"), Ok(()));
        assert_eq!(check_password("aaaaaaaa"), Err(PasswordError::Repetitive));
        assert_eq!(check_password("abababababab"), Err(PasswordError::Repetitive));
        assert_eq!(check_password("password"), Err(PasswordError::Common));
        assert_eq!(check_password("Qwertyuiop"), Err(PasswordError::Common), "whatever the case");
        assert_eq!(check_password("1qaz2wsx3edc"), Err(PasswordError::Common));
        let hash = hash_password("Good_pass.1-x").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("Good_pass.1-x", &hash) && !verify_password("Good_pass.1-y", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(hash, hash_password("Good_pass.1-x").unwrap(), "salted");
        for _ in 0..20 {
            assert_eq!(check_password(&generate_password()), Ok(()));
        }
        let (token, digest) = generate_token();
        assert!(token.starts_with("moat_") && token.len() == 69);
        assert_eq!(token_digest(&token), digest);
    }

    /// Regression: a generated password's check was a SHA-256 only (3–7 ms a sign-in against ~30 ms for an
    /// unknown name's dummy argon2), so timing told which names exist. Every check now costs one argon2.
    #[test]
    fn every_check_costs_one_argon2_verification() {
        let generated = generate_password();
        let hash = hash_generated_password(&generated);
        let _ = DUMMY_HASH.len();
        let before = ARGON2_VERIFICATIONS.with(|n| n.get());
        assert!(verify_password(&generated, &hash));
        assert!(!verify_password("Wrong_pass.1", &hash));
        assert_eq!(ARGON2_VERIFICATIONS.with(|n| n.get()) - before, 2, "one argon2 per check");
    }
}
