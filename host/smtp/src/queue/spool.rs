//! The spool: one file per queued message, named by its queue id. A message is in the spool, fsync'd, before
//! Moat answers `250` for it; the queue rows in the store say what is left to do with it. Once delivered, a
//! message may stay a while as a copy (`kept/`), so the email log can still open and classify it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    fsync: bool,
    keep_copies: Duration,
}

impl Spool {
    /// Opens (creating) the spool under `dir`. `fsync = false` is only for benchmarks that measure its cost.
    pub fn open(dir: impl Into<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        let dir = dir.into();
        for sub in ["tmp", "msg", "kept"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Self { dir, fsync, keep_copies: Duration::ZERO })
    }

    /// Keeps a copy of each finished message for `keep` (counted from when it was spooled) instead of
    /// removing it at once.
    pub fn keeping_copies(mut self, keep: Duration) -> Self {
        self.keep_copies = keep;
        self
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join("msg").join(id)
    }

    fn kept(&self, id: &str) -> PathBuf {
        self.dir.join("kept").join(id)
    }

    /// Writes `parts` (header then body, to avoid copying the message) as message `id`: to a temp file,
    /// fsync'd, renamed into place, and the directory fsync'd so the rename itself survives a crash.
    pub async fn write(&self, id: &str, parts: [&[u8]; 2]) -> std::io::Result<()> {
        let (tmp, dest, fsync) = (self.dir.join("tmp").join(id), self.path(id), self.fsync);
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        tokio::task::spawn_blocking(move || {
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
                // A full disk must not stay full of half-written messages until the next start.
                let _ = std::fs::remove_file(&tmp);
                return written;
            }
            if fsync {
                sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Message `id`, queued or kept.
    pub async fn read(&self, id: &str) -> std::io::Result<Vec<u8>> {
        match tokio::fs::read(self.path(id)).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => tokio::fs::read(self.kept(id)).await,
            read => read,
        }
    }

    /// Message `id` needs no more delivery: kept as a copy for a while if the spool keeps copies, else removed.
    pub async fn finish(&self, id: &str) -> std::io::Result<()> {
        if self.keep_copies.is_zero() {
            return self.remove(id).await;
        }
        match tokio::fs::rename(self.path(id), self.kept(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes kept copies older than the spool keeps them (by the time they were spooled); returns how many.
    pub async fn purge_copies(&self, now: SystemTime) -> std::io::Result<usize> {
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(self.dir.join("kept")).await?;
        while let Some(entry) = entries.next_entry().await? {
            let spooled = entry.metadata().await?.modified()?;
            if now.duration_since(spooled).unwrap_or_default() >= self.keep_copies {
                match tokio::fs::remove_file(entry.path()).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => removed += 1,
                }
            }
        }
        Ok(removed)
    }

    /// Removes message `id`; a file already gone is not an error (delivery is at-least-once).
    pub async fn remove(&self, id: &str) -> std::io::Result<()> {
        match tokio::fs::remove_file(self.path(id)).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes files no queue row refers to: temp files of sessions cut short, and messages whose queue rows
    /// were never committed (no `250` was sent for them) or were deleted while the file stayed.
    pub async fn remove_orphans(&self, queued: &std::collections::HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for sub in ["tmp", "msg"] {
            let mut entries = tokio::fs::read_dir(self.dir.join(sub)).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                if sub == "tmp" || !queued.contains(&name) {
                    tokio::fs::remove_file(entry.path()).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn written_messages_read_back_and_orphans_go() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), true).unwrap();
        spool.write("a1", [b"Received: x\r\n", b"Subject: hi\r\n\r\nbody\r\n"]).await.unwrap();
        spool.write("b2", [b"", b"other"]).await.unwrap();
        assert_eq!(spool.read("a1").await.unwrap(), b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
        std::fs::write(dir.path().join("tmp").join("c3"), b"half").unwrap();
        let keep = ["a1".to_string()].into_iter().collect();
        assert_eq!(spool.remove_orphans(&keep).await.unwrap(), 2);
        assert!(spool.read("b2").await.is_err());
        spool.remove("a1").await.unwrap();
        spool.remove("a1").await.unwrap();
    }

    #[tokio::test]
    async fn finished_messages_are_kept_as_copies_until_they_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), false).unwrap().keeping_copies(Duration::from_secs(3600));
        spool.write("d1", [b"Subject: delivered\r\n\r\n", b"x"]).await.unwrap();
        spool.finish("d1").await.unwrap();
        assert!(!dir.path().join("msg/d1").exists(), "out of the queue's files");
        assert_eq!(spool.read("d1").await.unwrap(), b"Subject: delivered\r\n\r\nx", "still readable");
        spool.finish("d1").await.unwrap();
        assert_eq!(spool.remove_orphans(&Default::default()).await.unwrap(), 0, "a copy is no orphan");

        assert_eq!(spool.purge_copies(SystemTime::now()).await.unwrap(), 0, "younger than an hour");
        let later = SystemTime::now() + Duration::from_secs(3601);
        assert_eq!(spool.purge_copies(later).await.unwrap(), 1);
        assert!(spool.read("d1").await.is_err());

        let not_keeping = Spool::open(dir.path(), false).unwrap();
        not_keeping.write("d2", [b"", b"y"]).await.unwrap();
        not_keeping.finish("d2").await.unwrap();
        assert!(not_keeping.read("d2").await.is_err(), "removed at once");
    }
}
