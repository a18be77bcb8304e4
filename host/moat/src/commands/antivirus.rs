//! `moat antivirus`: the signature databases the antivirus filter reads from the storage it shares across
//! tenants. ClamAV containers (`.cvd`, `.cld`: a 512-byte header, then a tar, gzipped or not) are unpacked;
//! hash databases (`.hdb`, `.hsb` and their unofficial `.hdu`, `.hsu`) become one key per signature; body
//! signature files (`.ndb`, `.ndu`) are stored whole. Other ClamAV formats are reported as skipped.

use super::open_store;
use crate::config::Config;
use anyhow::{Context, bail};
use clap::Subcommand;
use moat_plugin_antivirus::HashSignature;
use moat_plugin_antivirus::signatures::BodySignatures;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

const PLUGIN: &str = "antivirus";

#[derive(Subcommand)]
pub enum AntivirusCommand {
    /// Load ClamAV databases: .cvd/.cld containers, .hdb/.hsb hash files, .ndb body signature files.
    Load {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Remove what was loaded before (a fresh daily.cvd replaces yesterday's).
        #[arg(long)]
        replace: bool,
    },
    /// What is loaded.
    Show,
    /// Remove every loaded database (the built-in EICAR signature stays).
    Clear,
}

/// What one load brings.
#[derive(Default)]
struct Loaded {
    hashes: Vec<(String, Vec<u8>)>,
    kinds: BTreeSet<String>,
    ndb: Vec<(String, String)>,
    report: Vec<String>,
}

impl Loaded {
    fn add_file(&mut self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        match extension.as_str() {
            "cvd" | "cld" => self.add_container(name, bytes),
            "hdb" | "hsb" | "hdu" | "hsu" => {
                let (mut good, mut bad) = (0, 0);
                for line in String::from_utf8_lossy(bytes).lines().filter(|l| !l.trim().is_empty()) {
                    match HashSignature::parse(line) {
                        Ok(signature) => {
                            self.kinds.insert(signature.kind.to_owned());
                            self.hashes.push((signature.key(), signature.name.into_bytes()));
                            good += 1;
                        }
                        Err(_) => bad += 1,
                    }
                }
                self.report.push(format!("{name}: {good} hash signatures{}", skipped(bad)));
                Ok(())
            }
            "ndb" | "ndu" => {
                let text = String::from_utf8_lossy(bytes).into_owned();
                let compiled = BodySignatures::compile(text.lines(), false).map_err(anyhow::Error::msg)?;
                self.report.push(format!(
                    "{name}: {} body signatures{}",
                    compiled.len(),
                    skipped(compiled.unsupported)
                ));
                let file = name.rsplit('/').next().unwrap_or(name).to_owned();
                self.ndb.push((file, text));
                Ok(())
            }
            _ => {
                self.report.push(format!("{name}: skipped (not a hash or body signature database)"));
                Ok(())
            }
        }
    }

    fn add_container(&mut self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        if !bytes.starts_with(b"ClamAV-VDB:") || bytes.len() < 512 {
            bail!("{name} is not a ClamAV database (no ClamAV-VDB header)");
        }
        let body = &bytes[512..];
        let tar = if body.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .with_context(|| format!("{name}: bad gzip data"))?;
            out
        } else {
            body.to_vec()
        };
        for (member, content) in tar_members(&tar).with_context(|| format!("{name}: bad tar archive"))? {
            self.add_file(&member, content)?;
        }
        Ok(())
    }
}

fn skipped(n: usize) -> String {
    if n == 0 { String::new() } else { format!(" ({n} lines skipped: unsupported or malformed)") }
}

/// The regular files of a tar archive.
fn tar_members(tar: &[u8]) -> anyhow::Result<Vec<(String, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|b| *b == 0) {
            break;
        }
        let name_end = header[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&header[..name_end]).into_owned();
        let size_text = String::from_utf8_lossy(&header[124..136]);
        let size = usize::from_str_radix(size_text.trim_matches(|c: char| c == '\0' || c.is_whitespace()), 8)
            .with_context(|| format!("member {name}: bad size field"))?;
        let data = tar.get(at + 512..at + 512 + size).with_context(|| format!("member {name} is truncated"))?;
        if matches!(header[156], b'0' | 0) {
            out.push((name, data));
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    Ok(out)
}

fn list(value: Option<Vec<u8>>) -> BTreeSet<String> {
    value
        .map(|v| {
            String::from_utf8_lossy(&v).split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        })
        .unwrap_or_default()
}

impl AntivirusCommand {
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let store = open_store(config).await?;
        let namespace = moat_filter::shared_kv_namespace(PLUGIN);
        let meta = ["meta|hash-kinds".to_string(), "meta|ndb-files".to_string()];
        match self {
            AntivirusCommand::Load { files, replace } => {
                let mut loaded = Loaded::default();
                for path in &files {
                    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
                    loaded.add_file(&path.display().to_string(), &bytes)?;
                }
                if replace {
                    store.kv_clear(&namespace).await?;
                }
                let known = store.kv_get_many(&namespace, &meta, 0).await?;
                let mut kinds = list(known[0].clone());
                kinds.extend(loaded.kinds.iter().cloned());
                let mut ndb_files = list(known[1].clone());
                let mut entries = loaded.hashes;
                for (file, text) in loaded.ndb {
                    entries.push((format!("ndb|{file}"), text.into_bytes()));
                    ndb_files.insert(file);
                }
                let join = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",").into_bytes();
                entries.push((meta[0].clone(), join(&kinds)));
                entries.push((meta[1].clone(), join(&ndb_files)));
                // Tells warm antivirus instances to compile the body signatures again.
                let version = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                entries.push(("meta|ndb-version".to_string(), version.as_nanos().to_string().into_bytes()));
                store.kv_set_many(&namespace, &entries).await?;
                for line in loaded.report {
                    println!("{line}");
                }
                println!("Loaded. Running servers use it from the next message.");
            }
            AntivirusCommand::Show => {
                let entries = store.kv_list(&namespace, 0).await?;
                let hashes = entries.iter().filter(|(k, _)| k.starts_with("hash|")).count();
                let known = store.kv_get_many(&namespace, &meta, 0).await?;
                println!(
                    "hash signatures: {hashes} ({})",
                    list(known[0].clone()).into_iter().collect::<Vec<_>>().join(", ")
                );
                for file in list(known[1].clone()) {
                    let text = store.kv_get(&namespace, &format!("ndb|{file}"), 0).await?.unwrap_or_default();
                    let text = String::from_utf8_lossy(&text);
                    let compiled = BodySignatures::compile(text.lines(), false).map_err(anyhow::Error::msg)?;
                    println!("{file}: {} body signatures{}", compiled.len(), skipped(compiled.unsupported));
                }
                println!("built in: Eicar-Test-Signature");
            }
            AntivirusCommand::Clear => {
                let removed = store.kv_clear(&namespace).await?;
                println!("Removed {removed} entries; the built-in EICAR signature stays.");
            }
        }
        Ok(())
    }
}
