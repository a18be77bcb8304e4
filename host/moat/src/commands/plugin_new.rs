//! `moat plugin new NAME`: a plugin project an author builds, tests and uploads as it comes.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

const CARGO_TOML: &str = include_str!("../../templates/plugin/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("../../templates/plugin/lib.rs.tmpl");
const SAMPLE_EML: &str = include_str!("../../templates/plugin/sample.eml.tmpl");
const README: &str = include_str!("../../templates/plugin/README.md.tmpl");
const GITIGNORE: &str = include_str!("../../templates/plugin/gitignore.tmpl");

/// The SDK checkout this binary was built from, when it is still there (running from a source tree).
fn source_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    sdk.join("Cargo.toml").exists().then(|| sdk.canonicalize().ok()).flatten()
}

pub fn create(name: &str, parent: &Path, sdk_path: Option<&Path>) -> anyhow::Result<PathBuf> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        bail!("plugin names start with a lower-case letter and hold only a-z, 0-9, - and _ (got {name:?})");
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let sdk = match sdk_path.map(Path::to_path_buf).or_else(source_sdk) {
        Some(path) => {
            let path = path.canonicalize().with_context(|| format!("no SDK at {}", path.display()))?;
            format!("moat-sdk = {{ path = {:?} }}", path.display().to_string())
        }
        None => format!("moat-sdk = \"{}\"", env!("CARGO_PKG_VERSION")),
    };
    let fill = |t: &str| {
        t.replace("{{name}}", name).replace("{{file}}", &name.replace('-', "_")).replace("{{sdk_dependency}}", &sdk)
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("tests/data/sample.eml", SAMPLE_EML.to_owned()),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    // Written under a temporary name and renamed at the end, so a failure leaves no half-made project.
    let staging = parent.join(format!(".{name}.new"));
    let written = (|| -> std::io::Result<()> {
        for (path, content) in &files {
            let path = staging.join(path);
            std::fs::create_dir_all(path.parent().expect("files are inside the project"))?;
            std::fs::write(path, content)?;
        }
        std::fs::rename(&staging, &dir)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e).with_context(|| format!("cannot create {}", dir.display()));
    }
    Ok(dir)
}
