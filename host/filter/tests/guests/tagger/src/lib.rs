//! Scores what it reads through the message resource: subject, headers, text parts, sender and recipients,
//! plus its configuration and the host clock — so the tests see every accessor cross the boundary.
use moat_sdk::{Filter, Message, Verdict, export_filter, host};
use std::collections::HashMap;

struct Tagger;

impl Filter for Tagger {
    fn configure(config: &str) -> Result<(), String> {
        if config.contains("\"score\"") || matches!(config.trim(), "" | "{}") {
            Ok(())
        } else {
            Err(format!("expected {{\"score\": N}}, got {config}"))
        }
    }

    fn on_message(message: &Message) -> Verdict {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for part in message.text_parts() {
            for word in part.split_whitespace() {
                *counts.entry(word.to_lowercase()).or_default() += 1;
            }
        }
        let score: f64 =
            host::config().split(|c: char| !c.is_ascii_digit() && c != '.').find_map(|n| n.parse().ok()).unwrap_or(1.0);
        host::log(host::Level::Info, &format!("tagger saw {} words", counts.values().sum::<usize>()));
        let subject = message.subject().unwrap_or_default();
        let mut verdict = Verdict::pass().header("X-Tagger", &format!("{} recipients", message.recipients().len()));
        if subject.contains("FREE") {
            verdict = verdict.symbol("SUBJECT_FREE", score, "the subject says FREE");
        }
        if counts.get("viagra").copied().unwrap_or(0) >= 2 {
            verdict = verdict.symbol("BODY_REPEATS_DRUG", 5.0, "the body repeats a drug name");
        }
        if message.header("X-Reject-Me").first().is_some_and(|v| v == "yes") {
            return Verdict::reject(550, "5.7.1", "asked to be rejected").symbol("ASKED", 0.0, "X-Reject-Me");
        }
        if host::now_ms() == 0 || message.sender().is_empty() {
            verdict = verdict.symbol("ODD", 0.1, "no clock or null sender");
        }
        verdict
    }
}

export_filter!(Tagger);
