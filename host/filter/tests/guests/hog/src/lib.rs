//! Allocates without bound: the runtime must stop it at its memory cap.
use moat_sdk::{Filter, Message, Verdict, export_filter};

struct Hog;

impl Filter for Hog {
    fn on_message(_message: &Message) -> Verdict {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

export_filter!(Hog);
