//! The antivirus layer with an operator's database the size of ClamAV's: 30,000 `.ndb` body signatures
//! loaded with `moat antivirus load`, 2,000 messages (every 100th carrying one signature's bytes in an
//! attachment) scanned with `moat scan` through the default chain — once with the antivirus entry warm (the
//! default: signatures compiled once per instance), once cold (compiled for every message).
//!
//! `cargo bench -p moat-tests --bench antivirus`. The signatures are pseudo-random bytes, generated here.

use base64::Engine;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");
const SIGNATURES: usize = 30_000;
const MESSAGES: usize = 2_000;
const INFECTED_EVERY: usize = 100;

/// xorshift64*: the same signatures on every run, without a dependency.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn moat(dir: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(BIN).arg("--config-file").arg(dir.join("moat.toml")).args(args).output().unwrap();
    assert!(out.status.success(), "moat {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn message(i: usize, attachment: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    format!(
        "From: sender{i}@partner.test\r\nTo: bob@example.com\r\nSubject: report {i}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         Here is the report number {i}, with the figures we discussed.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"r{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    )
}

/// Scans `dir`'s messages; returns (viruses found, the scan's own rate line).
fn scan(dir: &Path, messages: &Path) -> (usize, String) {
    let (out, err) = moat(dir, &["scan", messages.to_str().unwrap()]);
    let found = out.lines().filter(|l| l.contains("AV_VIRUS")).count();
    (found, err.lines().find(|l| l.starts_with("scanned")).unwrap_or_default().to_owned())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("moat.toml"), format!("[server]\ndata_dir = {:?}\n", dir.path().join("data")))
        .unwrap();
    let mut bytes = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut ndb = String::new();
    let mut signatures = Vec::new();
    for i in 0..SIGNATURES {
        let len = 12 + usize::from(bytes.next()) % 28;
        let signature = bytes.take(len);
        let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
        ndb.push_str(&format!("Bench.Sig{i}:0:*:{hex}\n"));
        signatures.push(signature);
    }
    std::fs::write(dir.path().join("bench.ndb"), &ndb).unwrap();
    let (loaded, _) = moat(dir.path(), &["antivirus", "load", dir.path().join("bench.ndb").to_str().unwrap()]);
    assert!(loaded.contains(&format!("{SIGNATURES} body signatures")), "{loaded}");

    let messages = dir.path().join("messages");
    std::fs::create_dir_all(&messages).unwrap();
    let mut infected = 0;
    for i in 0..MESSAGES {
        let mut attachment = bytes.take(2048);
        if i % INFECTED_EVERY == 0 {
            let signature = &signatures[(i * 7919) % SIGNATURES];
            attachment[100..100 + signature.len()].copy_from_slice(signature);
            infected += 1;
        }
        std::fs::write(messages.join(format!("{i:05}.eml")), message(i, &attachment)).unwrap();
    }

    let (found, rate) = scan(dir.path(), &messages);
    assert_eq!(found, infected, "every planted signature is found, nothing else");
    println!("warm (default): {rate}");

    // The same chain with the antivirus cold, on a tenth of the messages.
    let (chain, _) = moat(dir.path(), &["chain", "show"]);
    let cold = chain.replace("warm = true\n", "");
    assert_ne!(cold, chain, "the default chain keeps the antivirus warm");
    std::fs::write(dir.path().join("cold.toml"), cold).unwrap();
    moat(dir.path(), &["chain", "set", dir.path().join("cold.toml").to_str().unwrap()]);
    let tenth = dir.path().join("tenth");
    std::fs::create_dir_all(&tenth).unwrap();
    for i in (0..MESSAGES).step_by(10) {
        let name = format!("{i:05}.eml");
        std::os::unix::fs::symlink(messages.join(&name), tenth.join(&name)).unwrap();
    }
    let (found, rate) = scan(dir.path(), &tenth);
    assert_eq!(found, infected, "the cold antivirus finds the same (every infected message is in this tenth)");
    println!("cold: {rate}");
}
