//! Time-based one-time passwords (RFC 6238 over RFC 4226: HMAC-SHA1, 30-second steps, 6 digits), the
//! optional second factor of admin sign-in, as authenticator apps produce them.

use hmac::{Hmac, KeyInit, Mac};

const STEP: i64 = 30;

/// A new random secret, base32 as apps take it.
pub fn generate_secret() -> String {
    let bytes: [u8; 20] = rand::random();
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The code for `secret` at time step `counter`.
fn code(secret: &[u8], counter: u64) -> u32 {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    value % 1_000_000
}

/// Whether `given` is the code of `secret` now, a step before or a step after (clock drift).
pub fn verify(secret_base32: &str, given: &str, now: i64) -> bool {
    matching_step(secret_base32, given, now).is_some()
}

/// The time step whose code `given` is (now, a step before or a step after), so the caller can refuse a
/// step used before.
pub fn matching_step(secret_base32: &str, given: &str, now: i64) -> Option<i64> {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_base32.trim_end_matches('=').as_bytes()).ok()?;
    let given = given.trim().replace(' ', "").parse::<u32>().ok()?;
    let step = now / STEP;
    (step - 1..=step + 1).find(|s| *s >= 0 && code(&secret, *s as u64) == given)
}

/// The current code (for tests and for showing that set-up worked).
pub fn current(secret_base32: &str, now: i64) -> Option<String> {
    let secret = data_encoding::BASE32_NOPAD.decode(secret_base32.as_bytes()).ok()?;
    Some(format!("{:06}", code(&secret, (now / STEP) as u64)))
}

/// The URI authenticator apps import (as a QR code or pasted).
pub fn provisioning_uri(secret: &str, account: &str) -> String {
    format!("otpauth://totp/Moat:{account}?secret={secret}&issuer=Moat&algorithm=SHA1&digits=6&period=30")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890", 8 digits there; the last 6 here.
        let key = b"12345678901234567890";
        for (time, expected) in [(59u64, 287082), (1111111109, 81804), (1234567890, 5924), (2000000000, 279037)] {
            assert_eq!(code(key, time / 30), expected, "at {time}");
        }
        let secret = data_encoding::BASE32_NOPAD.encode(key);
        assert!(verify(&secret, "287082", 59));
        assert!(verify(&secret, "287 082", 59 + 30), "one step of drift");
        assert!(!verify(&secret, "287082", 59 + 90));
        assert!(!verify(&secret, "nope", 59));
        assert_eq!(current(&secret, 59).as_deref(), Some("287082"));
    }
}
