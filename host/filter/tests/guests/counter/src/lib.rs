//! Counts the messages this instance has seen (`CALLS` scores the count), and traps on a subject of "trap":
//! so the tests can tell a warm instance from a fresh one, and see a failed one replaced.
use moat_sdk::{Filter, Message, Verdict, export_filter};
use std::sync::atomic::{AtomicU32, Ordering};

static SEEN: AtomicU32 = AtomicU32::new(0);

struct Counter;

impl Filter for Counter {
    fn on_message(message: &Message) -> Verdict {
        let seen = SEEN.fetch_add(1, Ordering::Relaxed) + 1;
        assert!(message.subject().as_deref() != Some("trap"), "asked to trap");
        Verdict::pass().symbol("CALLS", f64::from(seen), "messages this instance has seen")
    }
}

export_filter!(Counter);
