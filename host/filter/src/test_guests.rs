//! Builds components for tests: the guests under `host/filter/tests/guests/` (this crate's tests and the
//! end-to-end ones), and packages of the main workspace (the example, the built-in plugins). Not part of the
//! runtime's API.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The bytes of test guest `name`, building every guest for wasm32-wasip2 into `target_dir` on first use.
pub fn component(name: &str, target_dir: &Path) -> Vec<u8> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/guests/Cargo.toml");
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path", manifest, "--target-dir"])
            .arg(target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .status()
            .expect("run cargo");
        assert!(
            status.success(),
            "building the test guests failed (is the target installed? rustup target add wasm32-wasip2)"
        );
        target_dir.join("wasm32-wasip2/release")
    });
    std::fs::read(dir.join(format!("{name}.wasm"))).unwrap_or_else(|e| panic!("test guest {name}: {e}"))
}

/// The component of workspace package `package` (a `cdylib` built with `moat-sdk`), built for wasm32-wasip2
/// into `target_dir`. Concurrent callers in one test binary build once.
pub fn workspace_component(package: &str, target_dir: &Path) -> Vec<u8> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path", manifest, "-p", package])
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building {package} for wasm32-wasip2 failed");
    let file = target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}
