//! The data dir holds the database, the spool (every message Moat keeps), the TLS key and the key file that
//! seals secrets: nobody but Moat's own user may read any of it.

use anyhow::Context;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `dir` (mode 0700), makes everything Moat writes from now on private (umask 077: files 0600,
/// directories 0700), and takes group and other access away from what an older Moat left readable. The walk
/// happens once: a data dir that is private already was made so, with everything in it, by an earlier call.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mode = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    tighten(dir).with_context(|| format!("cannot make {} private", dir.display()))
}

fn tighten(path: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    // What is inside first: a directory is private only once everything in it is (a walk cut short is
    // done again at the next start).
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            tighten(&entry?.path())?;
        }
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_dir_and_what_is_in_it_become_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("spool/msg")).unwrap();
        std::fs::write(dir.join("moat.db"), b"x").unwrap();
        std::fs::write(dir.join("spool/msg/q1"), b"mail").unwrap();
        std::fs::set_permissions(dir.join("moat.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        prepare(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("moat.db")), 0o600);
        assert_eq!(mode(&dir.join("spool/msg/q1")) & 0o077, 0);
        std::fs::write(dir.join("new"), b"y").unwrap();
        assert_eq!(mode(&dir.join("new")), 0o600, "written after: private by the umask");
    }
}
