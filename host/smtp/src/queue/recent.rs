//! Bodies of messages just accepted for delivery, kept in memory for the delivery that follows moments later,
//! so it does not read back from the message store what was written a millisecond before. Bounded in bytes
//! and in age; the message store stays the truth: a retry, another node or a restart reads the body there.

use moat_store::BodyKey;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes of bodies kept at most: a burst beyond it is read from the message store as before.
const BUDGET: usize = 32 << 20;
/// A body not delivered within this (its destination is down) is dropped from memory.
const AGE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub(crate) struct RecentBodies {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    bodies: HashMap<BodyKey, (Vec<u8>, Instant)>,
    bytes: usize,
}

impl Kept {
    fn remove(&mut self, key: &BodyKey) -> Option<Vec<u8>> {
        let (body, _) = self.bodies.remove(key)?;
        self.bytes -= body.len();
        Some(body)
    }
}

impl RecentBodies {
    /// Keeps `body` for its delivery, unless that would pass the budget once stale bodies are dropped.
    pub fn keep(&self, key: BodyKey, body: Vec<u8>) {
        let mut kept = self.kept.lock().expect("recent bodies");
        if kept.bytes + body.len() > BUDGET {
            let now = Instant::now();
            let stale: Vec<BodyKey> = kept
                .bodies
                .iter()
                .filter(|(_, (_, at))| now.duration_since(*at) > AGE)
                .map(|(k, _)| k.clone())
                .collect();
            for key in &stale {
                kept.remove(key);
            }
            if kept.bytes + body.len() > BUDGET {
                return;
            }
        }
        kept.bytes += body.len();
        if let Some((old, _)) = kept.bodies.insert(key, (body, Instant::now())) {
            kept.bytes -= old.len();
        }
    }

    /// The body, if it is still kept; it is given up (a later attempt reads the message store).
    pub fn take(&self, key: &BodyKey) -> Option<Vec<u8>> {
        let mut kept = self.kept.lock().expect("recent bodies");
        let fresh = kept.bodies.get(key)?.1.elapsed() <= AGE;
        let body = kept.remove(key)?;
        fresh.then_some(body)
    }

    pub fn forget(&self, key: &BodyKey) {
        self.kept.lock().expect("recent bodies").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_given_once_and_the_budget_holds() {
        let recent = RecentBodies::default();
        let key = BodyKey::of(&[b"one"]);
        recent.keep(key.clone(), b"one".to_vec());
        assert_eq!(recent.take(&key).as_deref(), Some(&b"one"[..]));
        assert_eq!(recent.take(&key), None, "given up: the next attempt reads the store");
        let big = vec![0u8; BUDGET];
        recent.keep(BodyKey::of(&[&big]), big);
        let small = BodyKey::of(&[b"small"]);
        recent.keep(small.clone(), b"small".to_vec());
        assert_eq!(recent.take(&small), None, "over the budget: not kept");
        assert_eq!(recent.kept.lock().unwrap().bytes, BUDGET);
    }
}
