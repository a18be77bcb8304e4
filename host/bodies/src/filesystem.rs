//! Bodies as files under the data dir: `bodies/AB/ABCD…` (256 fan-out directories keep each one small),
//! written to `tmp/`, fsync'd, renamed into place, and the directory fsync'd so the rename survives a crash.

use crate::{BodyKey, MessageStore, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Filesystem {
    dir: PathBuf,
    fsync: bool,
}

impl Filesystem {
    /// Opens (creating) the store under `dir`; temp files a stop left behind go. `fsync = false` is only for
    /// benchmarks that measure its cost.
    pub fn open(dir: impl Into<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("bodies"))?;
        let tmp = dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { dir, fsync })
    }

    fn path(&self, key: &BodyKey) -> PathBuf {
        self.dir.join("bodies").join(&key.as_str()[..2]).join(key.as_str())
    }
}

#[async_trait::async_trait]
impl MessageStore for Filesystem {
    async fn write(&self, key: &BodyKey, parts: &[&[u8]]) -> Result<()> {
        let dest = self.path(key);
        // Unique per write: two sessions storing one key at once must not share a temp file.
        let tmp = self.dir.join("tmp").join(format!("{}.{}", key.as_str(), uuid_like()));
        let fsync = self.fsync;
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Ok(file) = std::fs::File::options().write(true).open(&dest) {
                // Already stored (the same bytes): renewing its time is all a sweep needs to see.
                return file.set_modified(SystemTime::now());
            }
            let parent = dest.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)?;
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
                std::fs::File::open(parent)?.sync_all()?;
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
        match tokio::fs::remove_file(self.path(key)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn stored_before(&self, cutoff: i64) -> Result<Vec<BodyKey>> {
        let root = self.dir.join("bodies");
        let cutoff = UNIX_EPOCH + Duration::from_secs(cutoff.max(0) as u64);
        Ok(tokio::task::spawn_blocking(move || -> std::io::Result<Vec<BodyKey>> {
            let mut keys = Vec::new();
            for fan in std::fs::read_dir(&root)? {
                for entry in std::fs::read_dir(fan?.path())? {
                    let entry = entry?;
                    let Some(key) = BodyKey::parse(&entry.file_name().to_string_lossy()) else { continue };
                    if entry.metadata()?.modified()? < cutoff {
                        keys.push(key);
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
