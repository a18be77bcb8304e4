//! Bodies as files under the data dir: `bodies/AB/ABCD…` (256 fan-out directories keep each one small),
//! written to a temp file beside their place (`bodies/AB/tmp.ABCD….N`), fsync'd, renamed into place, and the
//! directory fsync'd so the rename survives a crash. The temp file shares the destination's directory because
//! creating and renaming lock the directories involved: with one `tmp/` for every write, concurrent sessions
//! spun on that one directory's lock (1.7–15.5% of all `perf` samples of the no-filter relay at 32 clients); now
//! a write locks one of 256. A sweep's listing also removes temp files a crash left behind.

use crate::{BodyKey, MessageStore, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Filesystem {
    dir: PathBuf,
    fsync: bool,
}

impl Filesystem {
    /// Opens (creating) the store under `dir`, its 256 fan-out directories made once here rather than on every
    /// write. Several processes open it at once (the server, a CLI command), so nothing is removed here: temp
    /// files a crash left go with the sweep. `fsync = false` is only for benchmarks that measure its cost.
    pub fn open(dir: impl Into<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        let dir = dir.into();
        for fan in 0..=255u8 {
            std::fs::create_dir_all(dir.join("bodies").join(format!("{fan:02x}")))?;
        }
        Ok(Self { dir, fsync })
    }

    /// Whether a store was ever opened under `dir`: an install that chose (or defaulted to) this store.
    pub fn exists_under(dir: &Path) -> bool {
        dir.join("bodies").is_dir()
    }

    fn path(&self, key: &BodyKey) -> PathBuf {
        self.dir.join("bodies").join(&key.as_str()[..2]).join(key.as_str())
    }

    /// Where `key` is written before it is renamed into place: unique per write, since two sessions storing
    /// one key at once must not share a temp file.
    fn temp_path(&self, key: &BodyKey) -> PathBuf {
        self.dir.join("bodies").join(&key.as_str()[..2]).join(format!("{TEMP_PREFIX}{key}.{}", uuid_like()))
    }
}

/// Names a temp file, which no key can be mistaken for (keys are hex).
const TEMP_PREFIX: &str = "tmp.";

/// Removes `path`; a file already gone is no error.
fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[async_trait::async_trait]
impl MessageStore for Filesystem {
    async fn write(&self, key: &BodyKey, parts: &[&[u8]]) -> Result<()> {
        let (dest, tmp) = (self.path(key), self.temp_path(key));
        let fsync = self.fsync;
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            // The same key is the same bytes: renaming over an existing body replaces it with itself, and its
            // fresh time is what a sweep must see.
            let written = (|| {
                let mut file = std::fs::File::create(&tmp)?;
                for part in &parts {
                    file.write_all(part)?;
                }
                if fsync {
                    file.sync_all()?;
                }
                std::fs::rename(&tmp, &dest)
            })();
            if written.is_err() {
                // A full disk must not stay full of half-written messages.
                let _ = std::fs::remove_file(&tmp);
                return written;
            }
            if fsync {
                std::fs::File::open(dest.parent().unwrap_or(Path::new(".")))?.sync_all()?;
            }
            Ok(())
        })
        .await??;
        Ok(())
    }

    async fn get(&self, key: &BodyKey) -> Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &BodyKey) -> Result<()> {
        let path = self.path(key);
        Ok(tokio::task::spawn_blocking(move || remove_if_there(&path)).await??)
    }

    async fn stored_before(&self, cutoff: i64) -> Result<Vec<BodyKey>> {
        let (root, old_tmp) = (self.dir.join("bodies"), self.dir.join("tmp"));
        let cutoff = UNIX_EPOCH + Duration::from_secs(cutoff.max(0) as u64);
        Ok(tokio::task::spawn_blocking(move || -> std::io::Result<Vec<BodyKey>> {
            // Earlier versions wrote every temp file to `tmp/`: what a crash left there goes too.
            if let Ok(entries) = std::fs::read_dir(&old_tmp) {
                for entry in entries {
                    remove_if_there(&entry?.path())?;
                }
                let _ = std::fs::remove_dir(&old_tmp);
            }
            let mut keys = Vec::new();
            for fan in std::fs::read_dir(&root)? {
                for entry in std::fs::read_dir(fan?.path())? {
                    let entry = entry?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let key = BodyKey::parse(&name);
                    let ours = key.is_some() || name.starts_with(TEMP_PREFIX);
                    if !ours || entry.metadata()?.modified()? >= cutoff {
                        continue;
                    }
                    match key {
                        Some(key) => keys.push(key),
                        // A write a crash cut short (a live write takes milliseconds).
                        None => remove_if_there(&entry.path())?,
                    }
                }
            }
            Ok(keys)
        })
        .await??)
    }

    fn kind(&self) -> &'static str {
        "filesystem"
    }
}

/// A name no other write of this process uses at the same time.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
