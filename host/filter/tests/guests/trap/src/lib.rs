//! Panics on every message: the runtime must turn the trap into a failure, not a crash.
use moat_sdk::{Filter, Message, Verdict, export_filter};

struct Trap;

impl Filter for Trap {
    fn on_message(message: &Message) -> Verdict {
        let parts = message.text_parts();
        let index = parts.len() + 10;
        Verdict::pass().symbol(&parts[index], 0.0, "unreachable")
    }
}

export_filter!(Trap);
