//! Counts the messages this instance has seen (`CALLS` scores the count), traps on a subject of "trap" and
//! keeps 12 MiB more of memory on a subject of "grow": so the tests can tell a warm instance from a fresh
//! one, see a failed one replaced, and one that grew large not kept.
use moat_sdk::{Filter, Message, Verdict, export_filter};
use std::sync::atomic::{AtomicU32, Ordering};

static SEEN: AtomicU32 = AtomicU32::new(0);

struct Counter;

impl Filter for Counter {
    fn on_message(message: &Message) -> Verdict {
        let seen = SEEN.fetch_add(1, Ordering::Relaxed) + 1;
        assert!(message.subject().as_deref() != Some("trap"), "asked to trap");
        if message.subject().as_deref() == Some("grow") {
            let kept: &'static mut [u8] = Vec::leak(vec![1u8; 12 << 20]);
            std::hint::black_box(kept);
        }
        Verdict::pass().symbol("CALLS", f64::from(seen), "messages this instance has seen")
    }
}

export_filter!(Counter);
