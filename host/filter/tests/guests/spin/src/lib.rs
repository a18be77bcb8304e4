//! Never returns: the runtime must stop it by its fuel budget.
use moat_sdk::{Filter, Message, Verdict, export_filter};

struct Spin;

impl Filter for Spin {
    fn on_message(message: &Message) -> Verdict {
        let mut n = message.size();
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export_filter!(Spin);
