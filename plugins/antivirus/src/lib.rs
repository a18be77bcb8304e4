//! The antivirus layer: every decoded part of the message (text, HTML, attachments) and every member of its
//! zip archives is checked against hash signatures (ClamAV `.hdb`/`.hsb`: MD5, SHA-1 or SHA-256 with size)
//! and body signatures (ClamAV `.ndb`, see [`signatures`]); attachments of dangerous types (executables,
//! scripts, macro-enabled Office documents, disk images) are blocked by name and by content. EICAR is built
//! in. Databases an operator loads (`moat antivirus load`) are read from the plugin's shared storage:
//! `hash|KIND|HEX|SIZE` (SIZE may be `*`) → name, `meta|hash-kinds`, `meta|ndb-files` and `ndb|FILE`.
//!
//! Configuration (every key optional; the chain entry should be `always = true`, so an allow list never
//! skips it):
//! ```json
//! {"virus": "reject", "dangerous": "quarantine", "unscannable": "quarantine", "encrypted": "score",
//!  "signatures": ["Custom.Invoice:0:*:494e564f494345{-20}2e657865"],
//!  "hashes": ["44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature"],
//!  "allowed_extensions": ["iso"], "max_scan_bytes": 20971520,
//!  "limits": {"depth": 3, "members": 1000, "ratio": 200, "expanded_bytes": 25165824}}
//! ```

pub mod archive;
pub mod signatures;

use archive::{Budget, Limits, Unscannable};
use moat_sdk::{Filter, Message, Verdict, host};
use serde::Deserialize;
use signatures::BodySignatures;
use std::sync::Mutex;

/// File name extensions blocked by default: programs, scripts, shortcuts, installers, disk images that
/// smuggle them past filters, and Office formats that carry macros.
const DANGEROUS_EXTENSIONS: &[&str] = &[
    "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "msi", "msp", "jar",
    "ps1", "psm1", "lnk", "cpl", "reg", "dll", "iso", "img", "vhd", "vhdx", "docm", "dotm", "xlsm", "xltm", "xlam",
    "pptm", "potm", "ppam", "ppsm", "sldm",
];

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Policy {
    Reject,
    Quarantine,
    /// Only the symbol's score counts.
    Score,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default = "reject")]
    virus: Policy,
    #[serde(default = "quarantine")]
    dangerous: Policy,
    #[serde(default = "quarantine")]
    unscannable: Policy,
    #[serde(default = "score")]
    encrypted: Policy,
    #[serde(default)]
    signatures: Vec<String>,
    #[serde(default)]
    hashes: Vec<String>,
    #[serde(default)]
    allowed_extensions: Vec<String>,
    #[serde(default = "max_scan_bytes")]
    max_scan_bytes: u64,
    #[serde(default)]
    limits: Limits,
}

fn reject() -> Policy {
    Policy::Reject
}
fn quarantine() -> Policy {
    Policy::Quarantine
}
fn score() -> Policy {
    Policy::Score
}
fn max_scan_bytes() -> u64 {
    20 << 20
}

impl Config {
    /// Reads a configuration (every message); [`Config::check`] validated it when the chain was saved.
    fn parse(json: &str) -> Result<Self, String> {
        let json = if json.trim().is_empty() { "{}" } else { json };
        serde_json::from_str(json).map_err(|e| format!("antivirus config: {e}"))
    }

    /// Reads and validates every signature of a configuration, naming the first bad one.
    fn check(json: &str) -> Result<Self, String> {
        let config = Self::parse(json)?;
        BodySignatures::compile(config.signatures.iter().map(String::as_str), true)
            .map_err(|e| format!("antivirus config: {e}"))?;
        for (n, line) in config.hashes.iter().enumerate() {
            HashSignature::parse(line).map_err(|e| format!("antivirus config: hash {} ({line}): {e}", n + 1))?;
        }
        Ok(config)
    }
}

/// A `.hdb`/`.hsb` line: `HEX:SIZE:Name` (SIZE may be `*`), the kind told by the hex length.
pub struct HashSignature {
    pub kind: &'static str,
    pub hex: String,
    pub size: Option<u64>,
    pub name: String,
}

impl HashSignature {
    pub fn parse(line: &str) -> Result<Self, String> {
        let mut fields = line.trim().split(':');
        let (Some(hex), Some(size), Some(name)) = (fields.next(), fields.next(), fields.next()) else {
            return Err("expected HASH:SIZE:Name".into());
        };
        let kind = match hex.len() {
            32 => "md5",
            40 => "sha1",
            64 => "sha256",
            n => return Err(format!("a hash of {n} hex digits is neither MD5, SHA-1 nor SHA-256")),
        };
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("the hash is not hexadecimal".into());
        }
        let size = match size {
            "*" => None,
            n => Some(n.parse().map_err(|_| format!("size {n} is not a number"))?),
        };
        if name.trim().is_empty() {
            return Err("the signature has no name".into());
        }
        Ok(Self { kind, hex: hex.to_ascii_lowercase(), size, name: name.trim().to_owned() })
    }

    /// The shared-storage key the loader writes for it.
    pub fn key(&self) -> String {
        let size = self.size.map_or("*".to_string(), |s| s.to_string());
        format!("hash|{}|{}|{size}", self.kind, self.hex)
    }
}

/// Something to scan: a decoded part or an archive member, with how the admin's log names it.
struct Object {
    label: String,
    bytes: Vec<u8>,
    depth: u32,
    /// An attachment or archive member (hash signatures are of files; the message's own text is not one).
    file: bool,
}

/// What the scan found, worst first when it becomes a verdict.
#[derive(Default)]
struct Findings {
    viruses: Vec<String>,
    dangerous: Vec<String>,
    unscannable: Vec<String>,
    encrypted: Vec<String>,
    unscanned: Vec<String>,
}

fn extension(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase())
}

fn dangerous_name(name: &str, allowed: &[String]) -> Option<String> {
    let ext = extension(name)?;
    (DANGEROUS_EXTENSIONS.contains(&ext.as_str()) && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&ext)))
        .then_some(ext)
}

fn dangerous_content(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"MZ") {
        Some("a Windows program")
    } else if bytes.starts_with(b"\x7fELF") {
        Some("a Linux program")
    } else {
        None
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every part and member of the message, archives opened within the limits.
fn collect(message: &Message, config: &Config, findings: &mut Findings) -> Vec<Object> {
    let mut pending: Vec<Object> = Vec::new();
    for (i, text) in message.text_parts().into_iter().chain(message.html_parts()).enumerate() {
        pending.push(Object { label: format!("text part {}", i + 1), bytes: text.into_bytes(), depth: 0, file: false });
    }
    for attachment in message.attachments() {
        let label = attachment.name.clone().unwrap_or_else(|| format!("attachment {}", attachment.index + 1));
        if attachment.size > config.max_scan_bytes {
            findings.unscanned.push(format!("{label} ({} bytes)", attachment.size));
            continue;
        }
        let Some(bytes) = message.attachment_bytes(attachment.index) else { continue };
        pending.push(Object { label, bytes, depth: 0, file: true });
    }
    let mut budget = Budget { left: config.limits.expanded_bytes };
    let mut objects = Vec::new();
    while let Some(object) = pending.pop() {
        let name = object.label.rsplit(" → ").next().unwrap_or(&object.label);
        if let Some(ext) = dangerous_name(name, &config.allowed_extensions) {
            findings.dangerous.push(format!("{} (.{ext})", object.label));
        } else if let Some(kind) = dangerous_content(&object.bytes) {
            findings.dangerous.push(format!("{} ({kind})", object.label));
        }
        if name.eq_ignore_ascii_case("vbaProject.bin") || name.ends_with("/vbaProject.bin") {
            findings.dangerous.push(format!("{} (Office macros)", object.label));
        }
        if archive::is_zip(&object.bytes) {
            if object.depth + 1 >= config.limits.depth {
                findings
                    .unscannable
                    .push(format!("{}: archives nested deeper than {}", object.label, config.limits.depth));
            } else {
                match archive::members(&object.bytes, &config.limits, &mut budget) {
                    Ok(members) => pending.extend(members.into_iter().map(|m| Object {
                        label: format!("{} → {}", object.label, m.name),
                        bytes: m.bytes,
                        depth: object.depth + 1,
                        file: true,
                    })),
                    Err(Unscannable::Encrypted(member)) => {
                        findings.encrypted.push(format!("{} → {member}", object.label))
                    }
                    Err(Unscannable::Bomb(why)) => findings.unscannable.push(format!("{}: {why}", object.label)),
                    Err(Unscannable::Corrupt(why)) => findings.unscannable.push(format!("{}: {why}", object.label)),
                }
            }
        }
        objects.push(object);
    }
    objects
}

/// Hash signatures: the config's, EICAR's, and what the operator loaded into shared storage.
fn hash_hits(objects: &[Object], config: &Config, kinds: &[String], findings: &mut Findings) {
    let mut local: Vec<HashSignature> = config.hashes.iter().filter_map(|l| HashSignature::parse(l).ok()).collect();
    local.push(HashSignature {
        kind: "md5",
        hex: signatures::EICAR_MD5.into(),
        size: Some(signatures::EICAR.len() as u64),
        name: signatures::EICAR_NAME.into(),
    });
    let mut keys = Vec::new();
    let mut owners = Vec::new();
    for (index, object) in objects.iter().enumerate().filter(|(_, o)| o.file) {
        let size = object.bytes.len() as u64;
        let mut digests = vec![("md5", hex(&<md5::Md5 as md5::Digest>::digest(&object.bytes)))];
        if kinds.iter().any(|k| k == "sha256") || local.iter().any(|h| h.kind == "sha256") {
            digests.push(("sha256", hex(&<sha2::Sha256 as sha2::Digest>::digest(&object.bytes))));
        }
        if kinds.iter().any(|k| k == "sha1") || local.iter().any(|h| h.kind == "sha1") {
            digests.push(("sha1", hex(&<sha1::Sha1 as sha1::Digest>::digest(&object.bytes))));
        }
        for (kind, digest) in digests {
            if let Some(hit) =
                local.iter().find(|h| h.kind == kind && h.hex == digest && h.size.is_none_or(|s| s == size))
            {
                findings.viruses.push(format!("{} in {}", hit.name, object.label));
            }
            if !kinds.is_empty() {
                keys.push(format!("hash|{kind}|{digest}|{size}"));
                keys.push(format!("hash|{kind}|{digest}|*"));
                owners.extend([index, index]);
            }
        }
    }
    if keys.is_empty() {
        return;
    }
    match host::kv_get_shared(&keys) {
        Ok(values) => {
            for (value, index) in values.into_iter().zip(owners) {
                if let Some(name) = value {
                    findings.viruses.push(format!("{} in {}", String::from_utf8_lossy(&name), objects[index].label));
                }
            }
        }
        Err(e) => host::log(host::Level::Warn, &format!("hash signatures unavailable: {e:?}")),
    }
}

/// The compiled body signatures of the last call, with what they were compiled from. Kept when the chain entry
/// keeps this plugin warm (`warm = true`): compiling a ClamAV database's tens of thousands of signatures takes
/// far longer than scanning a message.
static COMPILED: Mutex<Option<(String, BodySignatures)>> = Mutex::new(None);

/// Body signatures: EICAR's, the config's, and the `.ndb` files the operator loaded (`version` changes with
/// every load).
fn body_hits(
    objects: &[Object],
    config: &Config,
    ndb_files: &[String],
    version: Option<&str>,
    findings: &mut Findings,
) {
    // What the compiled set is made of, to compile it once per instance rather than per message. Without a
    // loaded database that is the built-ins and the entry's own signatures; database files listed without a
    // version (a load under way) are read afresh each time.
    let source = match version {
        Some(v) => Some(format!("{v}\n{}\n{}", ndb_files.join(","), config.signatures.join("\n"))),
        None if ndb_files.is_empty() => Some(format!("\n\n{}", config.signatures.join("\n"))),
        None => None,
    };
    let mut compiled = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
    if source.is_none() || compiled.as_ref().map(|(s, _)| s) != source.as_ref() {
        *compiled = None;
        match compile(config, ndb_files) {
            Ok(signatures) => *compiled = Some((source.unwrap_or_default(), signatures)),
            Err(e) => return host::log(host::Level::Error, &e),
        }
    }
    let Some((_, signatures)) = compiled.as_ref() else { return };
    for object in objects {
        if let Some(name) = signatures.scan(&object.bytes) {
            findings.viruses.push(format!("{name} in {}", object.label));
        }
    }
}

fn compile(config: &Config, ndb_files: &[String]) -> Result<BodySignatures, String> {
    let mut texts: Vec<String> = vec![signatures::builtin_ndb()];
    if !ndb_files.is_empty() {
        let keys: Vec<String> = ndb_files.iter().map(|f| format!("ndb|{f}")).collect();
        match host::kv_get_shared(&keys) {
            Ok(values) => texts.extend(values.into_iter().flatten().map(|v| String::from_utf8_lossy(&v).into_owned())),
            Err(e) => host::log(host::Level::Warn, &format!("body signatures unavailable: {e:?}")),
        }
    }
    let lines = texts.iter().flat_map(|t| t.lines()).chain(config.signatures.iter().map(String::as_str));
    BodySignatures::compile(lines, false)
}

fn list(meta: &Option<Vec<u8>>) -> Vec<String> {
    meta.as_deref()
        .map(|v| {
            String::from_utf8_lossy(v).split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
        })
        .unwrap_or_default()
}

struct Antivirus;

impl Filter for Antivirus {
    fn configure(config: &str) -> Result<(), String> {
        Config::check(config).map(|_| ())
    }

    fn on_message(message: &Message) -> Verdict {
        let config = match Config::parse(&host::config()) {
            Ok(config) => config,
            Err(e) => {
                return Verdict::tempfail(451, "4.3.0", "Virus scanner misconfigured").symbol("AV_CONFIG", 0.0, &e);
            }
        };
        let mut findings = Findings::default();
        let objects = collect(message, &config, &mut findings);
        let meta = ["meta|hash-kinds", "meta|ndb-files", "meta|ndb-version"].map(String::from);
        let meta = host::kv_get_shared(&meta).unwrap_or_else(|_| vec![None, None, None]);
        hash_hits(&objects, &config, &list(&meta[0]), &mut findings);
        if findings.viruses.is_empty() {
            let version = meta[2].as_deref().map(String::from_utf8_lossy);
            body_hits(&objects, &config, &list(&meta[1]), version.as_deref(), &mut findings);
        }
        verdict(&config, &findings)
    }
}

fn verdict(config: &Config, findings: &Findings) -> Verdict {
    let mut decided: Option<(Policy, String)> = None;
    let mut symbols: Vec<(&str, f64, String)> = Vec::new();
    let mut consider = |policy: Policy, name: &'static str, score: f64, what: &[String], reply: &str| {
        if what.is_empty() {
            return;
        }
        symbols.push((name, score, what.join("; ")));
        let stronger = match (&decided, policy) {
            (_, Policy::Score) => false,
            (None, _) => true,
            (Some((Policy::Quarantine, _)), Policy::Reject) => true,
            _ => false,
        };
        if stronger {
            decided = Some((policy, reply.to_owned()));
        }
    };
    let first_virus = findings.viruses.first().map(|v| v.split(" in ").next().unwrap_or(v).to_owned());
    consider(
        config.virus,
        "AV_VIRUS",
        20.0,
        &findings.viruses,
        &format!("Virus found: {}", first_virus.as_deref().unwrap_or("")),
    );
    consider(config.dangerous, "AV_DANGEROUS_ATTACHMENT", 8.0, &findings.dangerous, "Attachment type not accepted");
    consider(config.unscannable, "AV_UNSCANNABLE", 6.0, &findings.unscannable, "Attachment cannot be scanned");
    consider(config.encrypted, "AV_ENCRYPTED_ARCHIVE", 3.0, &findings.encrypted, "Encrypted archive not accepted");
    consider(Policy::Score, "AV_UNSCANNED", 0.0, &findings.unscanned, "");
    let mut verdict = match decided {
        Some((Policy::Reject, reply)) => Verdict::reject(550, "5.7.1", &reply),
        Some((Policy::Quarantine, _)) => Verdict::quarantine(),
        _ => Verdict::pass(),
    };
    for (name, score, reason) in symbols {
        verdict = verdict.symbol(name, score, &reason);
    }
    verdict
}

moat_sdk::describe!(
    summary = "Antivirus: viruses (ClamAV hash and body signatures, EICAR), dangerous attachments and archives too deep or too big to scan.",
    configuration = "virus, dangerous, unscannable, encrypted: what each finding does: \"reject\", \"quarantine\" or \"score\" (defaults: reject, quarantine, quarantine, score)\nsignatures, hashes: extra ClamAV .ndb body signatures and .hdb hashes (moat antivirus load adds databases)\nallowed_extensions: attachment extensions never counted as dangerous\nmax_scan_bytes: larger messages are not scanned (AV_UNSCANNED)\nlimits: {depth, members, ratio, expanded_bytes} of archives",
);
moat_sdk::export_filter!(Antivirus);

#[cfg(test)]
mod tests {
    use super::*;
    use moat_sdk::Action;
    use moat_sdk::testing::{MockHost, TestMessage};

    fn with_attachment(name: &str, content_type: &str, bytes: &[u8]) -> TestMessage {
        let encoded = base64(bytes);
        let eml = format!(
            "From: a@sender.test\r\nTo: bob@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
             --b\r\nContent-Type: {content_type}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n"
        );
        TestMessage::from_eml(eml.as_bytes()).sender("a@sender.test").recipient("bob@example.com", "default")
    }

    fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
            if out.len().is_multiple_of(76) {
                out.push_str("\r\n");
            }
        }
        out
    }

    #[test]
    fn eicar_plain_and_zipped_is_rejected() {
        let mut host = MockHost::new();
        let v = host.on_message::<Antivirus>(&with_attachment("eicar.txt", "text/plain", signatures::EICAR));
        assert!(matches!(v.action(), Action::Reject { code: 550, .. }), "{v:?}");
        assert!(v.find_symbol("AV_VIRUS").unwrap().reason.contains("Eicar-Test-Signature in eicar.txt"));
        let zip =
            archive::tests::zip(&[("docs/readme.txt", b"hello", true), ("docs/eicar.txt", signatures::EICAR, true)]);
        let v = host.on_message::<Antivirus>(&with_attachment("docs.zip", "application/zip", &zip));
        assert!(matches!(v.action(), Action::Reject { .. }), "{v:?}");
        assert!(v.find_symbol("AV_VIRUS").unwrap().reason.contains("docs.zip → docs/eicar.txt"), "{v:?}");
    }

    #[test]
    fn dangerous_types_are_quarantined_by_name_and_content() {
        let mut host = MockHost::new();
        let v = host.on_message::<Antivirus>(&with_attachment("invoice.pdf.exe", "application/pdf", b"MZ\x90\x00"));
        assert_eq!(v.action(), &Action::Quarantine);
        assert!(v.find_symbol("AV_DANGEROUS_ATTACHMENT").unwrap().reason.contains("invoice.pdf.exe (.exe)"));
        let v = host.on_message::<Antivirus>(&with_attachment("photo.jpg", "image/jpeg", b"MZ\x90\x00program"));
        assert!(v.find_symbol("AV_DANGEROUS_ATTACHMENT").unwrap().reason.contains("a Windows program"), "{v:?}");
        let docm =
            archive::tests::zip(&[("word/document.xml", b"<w/>", true), ("word/vbaProject.bin", b"macro", true)]);
        let v = host.on_message::<Antivirus>(&with_attachment("report.docx", "application/octet-stream", &docm));
        assert!(v.find_symbol("AV_DANGEROUS_ATTACHMENT").unwrap().reason.contains("Office macros"), "{v:?}");
        let mut host = MockHost::new().config(r#"{"allowed_extensions": ["exe"], "dangerous": "score"}"#);
        let v = host.on_message::<Antivirus>(&with_attachment("tool.exe", "application/octet-stream", b"plain"));
        assert_eq!(v.action(), &Action::Continue);
        assert!(v.find_symbol("AV_DANGEROUS_ATTACHMENT").is_none());
        let clean = host.on_message::<Antivirus>(&with_attachment("notes.txt", "text/plain", b"just notes"));
        assert!(clean.symbols().is_empty(), "{clean:?}");
    }

    #[test]
    fn a_zip_bomb_is_unscannable_not_a_crash() {
        let mut host = MockHost::new();
        let bomb = archive::tests::zip(&[("zeros.bin", &vec![0u8; 16 << 20], true)]);
        let v = host.on_message::<Antivirus>(&with_attachment("big.zip", "application/zip", &bomb));
        assert_eq!(v.action(), &Action::Quarantine);
        assert!(v.find_symbol("AV_UNSCANNABLE").unwrap().reason.contains("expands"), "{v:?}");
    }

    #[test]
    fn loaded_databases_and_config_signatures_are_used() {
        let mut host = MockHost::new().config(r#"{"signatures": ["Custom.Invoice:0:*:494e564f494345{-20}2e657865"]}"#);
        let v = host.on_message::<Antivirus>(&with_attachment("a.txt", "text/plain", b"see INVOICE_2026.exe now"));
        assert!(v.find_symbol("AV_VIRUS").unwrap().reason.contains("Custom.Invoice"), "{v:?}");

        let mut host = MockHost::new();
        let sample = b"a known bad sample";
        let sig = HashSignature::parse(&format!(
            "{}:{}:Test.Sample",
            hex(&<sha2::Sha256 as sha2::Digest>::digest(sample)),
            sample.len()
        ))
        .unwrap();
        host.set_shared_kv(&sig.key(), b"Test.Sample");
        host.set_shared_kv("meta|hash-kinds", b"md5,sha256");
        host.set_shared_kv("ndb|daily.ndb", b"Test.Body:0:*:6576696c636f6465\nBad:0:EP+1:4142\n");
        host.set_shared_kv("meta|ndb-files", b"daily.ndb");
        let v = host.on_message::<Antivirus>(&with_attachment("s.bin", "application/octet-stream", sample));
        assert!(v.find_symbol("AV_VIRUS").unwrap().reason.contains("Test.Sample in s.bin"), "{v:?}");
        let v = host.on_message::<Antivirus>(&with_attachment("t.bin", "application/octet-stream", b"xx evilcode xx"));
        assert!(v.find_symbol("AV_VIRUS").unwrap().reason.contains("Test.Body in t.bin"), "{v:?}");
    }

    /// A warm instance compiles the loaded database once per load (`meta|ndb-version`), not per message: a
    /// new load is used from the next message.
    #[test]
    fn a_new_load_replaces_the_kept_signatures() {
        let mut host = MockHost::new();
        host.set_shared_kv("meta|ndb-files", b"daily.ndb");
        host.set_shared_kv(
            "ndb|daily.ndb",
            b"Old.Sig:0:*:6f6c646261640a
",
        );
        host.set_shared_kv("meta|ndb-version", b"warm-test-1");
        let old = with_attachment(
            "o.txt",
            "text/plain",
            b"oldbad
",
        );
        let new = with_attachment(
            "n.txt",
            "text/plain",
            b"newbad
",
        );
        assert!(host.on_message::<Antivirus>(&old).find_symbol("AV_VIRUS").is_some());
        // The text changed without a new version: the kept compilation still answers (what a load prevents).
        host.set_shared_kv(
            "ndb|daily.ndb",
            b"New.Sig:0:*:6e65776261640a
",
        );
        assert!(host.on_message::<Antivirus>(&new).find_symbol("AV_VIRUS").is_none());
        host.set_shared_kv("meta|ndb-version", b"warm-test-2");
        assert!(host.on_message::<Antivirus>(&new).find_symbol("AV_VIRUS").is_some(), "recompiled");
        assert!(host.on_message::<Antivirus>(&old).find_symbol("AV_VIRUS").is_none());
    }

    #[test]
    fn bad_config_names_the_signature() {
        let e = Antivirus::configure(r#"{"signatures": ["Bad:0:*:zz"]}"#).unwrap_err();
        assert!(e.contains("signature 1 (Bad:0:*:zz)"), "{e}");
        let e = Antivirus::configure(r#"{"hashes": ["abc:1:X"]}"#).unwrap_err();
        assert!(e.contains("hash 1 (abc:1:X): a hash of 3 hex digits"), "{e}");
        assert!(Antivirus::configure(r#"{"virus": "bounce"}"#).unwrap_err().contains("unknown variant"));
    }
}
