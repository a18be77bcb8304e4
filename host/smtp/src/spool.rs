//! The spool: one file per queued message, named by its queue id. A message is in the spool, fsync'd, before
//! Moat answers `250` for it; the queue rows in the store say what is left to do with it.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    fsync: bool,
}

impl Spool {
    /// Opens (creating) the spool under `dir`. `fsync = false` is only for benchmarks that measure its cost.
    pub fn open(dir: impl Into<PathBuf>, fsync: bool) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::create_dir_all(dir.join("msg"))?;
        Ok(Self { dir, fsync })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join("msg").join(id)
    }

    /// Writes `parts` (header then body, to avoid copying the message) as message `id`: to a temp file,
    /// fsync'd, renamed into place, and the directory fsync'd so the rename itself survives a crash.
    pub async fn write(&self, id: &str, parts: [&[u8]; 2]) -> std::io::Result<()> {
        let (tmp, dest, fsync) = (self.dir.join("tmp").join(id), self.path(id), self.fsync);
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::File::create(&tmp)?;
            for part in &parts {
                file.write_all(part)?;
            }
            if fsync {
                file.sync_all()?;
            }
            std::fs::rename(&tmp, &dest)?;
            if fsync {
                sync_dir(dest.parent().unwrap_or(Path::new(".")))?;
            }
            Ok(())
        })
        .await
        .map_err(std::io::Error::other)?
    }

    pub async fn read(&self, id: &str) -> std::io::Result<Vec<u8>> {
        tokio::fs::read(self.path(id)).await
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
}
