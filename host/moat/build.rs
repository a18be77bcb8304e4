//! Builds the built-in filter plugins (`plugins/*`, each a `cdylib` using only `moat-sdk`) for
//! wasm32-wasip2 and embeds them in the binary, so `cargo run -- serve` on a fresh checkout has its default
//! chain without another step. They are built by a nested cargo into their own target directory under
//! OUT_DIR (a different directory than the outer build's, so the two never wait on each other's lock).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
    for watched in ["plugins", "sdk", "wit"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let plugins = plugin_packages(&root.join("plugins"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = out.join("plugins-target");
    if !plugins.is_empty() {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(root.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            // Small components: no debug info in what is embedded and stored in the registry.
            .args(["--config", "profile.release.debug=false", "--config", "profile.release.strip=true"])
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR");
        for (package, _, _) in &plugins {
            cargo.args(["-p", package]);
        }
        let status = cargo.status().expect("run cargo to build the built-in plugins");
        if !status.success() {
            panic!(
                "building the built-in filter plugins for wasm32-wasip2 failed; if the target is missing, run \
                 `rustup target add wasm32-wasip2` (./scripts/setup does)"
            );
        }
    }
    let mut code = String::from("/// Built-in plugins: (registry name, version, component bytes).\n");
    code.push_str("pub const BUILTIN: &[(&str, &str, &[u8])] = &[\n");
    for (package, name, version) in &plugins {
        let wasm = target_dir.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
        code.push_str(&format!("    ({name:?}, {version:?}, include_bytes!({:?})),\n", wasm.display().to_string()));
    }
    code.push_str("];\n");
    std::fs::write(out.join("builtin_plugins.rs"), code).unwrap();
}

/// (package, registry name, version) of every crate under `plugins/`.
fn plugin_packages(dir: &Path) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else { continue };
        let field = |key: &str| {
            manifest
                .lines()
                .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('=').map(|v| v.trim().trim_matches('"')))
                .map(str::to_owned)
        };
        if let (Some(package), Some(version)) = (field("name"), field("version")) {
            let name = package.strip_prefix("moat-plugin-").unwrap_or(&package).to_owned();
            found.push((package, name, version));
        }
    }
    found.sort();
    found
}
