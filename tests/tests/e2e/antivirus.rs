//! The antivirus layer over real SMTP, in the default chain of a fresh install: EICAR refused plain and
//! zipped, a zip bomb held in quarantine without harm to the server, and a ClamAV database loaded with
//! `moat antivirus load` used by the running server.

use moat_tests::{Backend, Moat, Sink, eventually, send};
use std::io::Write;
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

fn case(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/antivirus/cases").join(name);
    String::from_utf8(std::fs::read(path).unwrap()).unwrap().replace('\n', "\r\n").replace("\r\r\n", "\r\n")
}

/// A ClamAV container as freshclam downloads it: a 512-byte header, then a gzipped tar.
fn cvd(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, content) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[124..135].copy_from_slice(format!("{:011o}", content.len()).as_bytes());
        header[156] = b'0';
        tar.extend_from_slice(&header);
        tar.extend_from_slice(content.as_bytes());
        tar.resize(tar.len().div_ceil(512) * 512, 0);
    }
    tar.extend_from_slice(&[0; 1024]);
    let mut out = b"ClamAV-VDB:24 Nov 2026 01-00 +0000:27000:2:90:sig:moat-test:0".to_vec();
    out.resize(512, b' ');
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn viruses_are_refused_bombs_held_and_loaded_databases_used() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    let chain = moat.admin(&["chain", "show"]);
    assert!(chain.contains("plugin = \"antivirus\""), "{chain}");

    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &case("eicar.eml")).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Virus found: Eicar-Test-Signature");
    let nested = case("eicar-in-nested-zip.eml");
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &nested).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Virus found: Eicar-Test-Signature");
    let log = moat.admin(&["log", "tail", "-n", "1", "--verbose"]);
    assert!(log.contains("archive.zip → inner.zip → eicar.txt"), "{log}");

    // 64 MiB of zeros in 64 KB: refused before inflating, held for an admin, and the server carries on.
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &case("zip-bomb.eml")).await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let held = moat.admin(&["quarantine", "list"]);
    assert!(held.contains("AV_UNSCANNABLE"), "{held}");
    let clean = "From: alice@sender.test\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nJust text.\r\n";
    assert!(send(moat.smtp(), "alice@sender.test", &["bob@example.com"], clean).await.unwrap().starts_with("250"));
    eventually(20, "the clean message delivered", || async { (sink.received().len() == 1).then_some(()) }).await;

    // An operator's database: a hash signature and a body signature in one .cvd, used from the next message.
    let sample = "a sample only the operator's database knows";
    let md5: String = <md5::Md5 as md5::Digest>::digest(sample.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    let db = cvd(&[
        ("daily.hdb", &format!("{md5}:{}:Operator.Test.Hash\n", sample.len())),
        ("daily.ndb", "Operator.Test.Body:0:*:6d616c6963696f7573{-10}7061796c6f6164\nUnsupported:0:EP+1:4142\n"),
        ("daily.info", "DAILY\n"),
    ]);
    let path = moat.write_file("daily.cvd", &db);
    let out = moat.admin(&["antivirus", "load", &path]);
    assert!(out.contains("daily.hdb: 1 hash signatures"), "{out}");
    assert!(out.contains("daily.ndb: 1 body signatures (1 lines skipped"), "{out}");
    assert!(out.contains("daily.info: skipped"), "{out}");
    let shown = moat.admin(&["antivirus", "show"]);
    assert!(shown.contains("hash signatures: 1 (md5)") && shown.contains("daily.ndb: 1 body signatures"), "{shown}");
    // The server caches shared reads for a few seconds.
    tokio::time::sleep(std::time::Duration::from_millis(5200)).await;
    let hashed = attachment("sample.bin", sample.as_bytes());
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &hashed).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Virus found: Operator.Test.Hash");
    let body = attachment("notes.txt", b"this is malicious, see payload");
    let reply = send(moat.smtp(), "alice@sender.test", &["bob@example.com"], &body).await.unwrap();
    assert_eq!(reply, "550 5.7.1 Virus found: Operator.Test.Body");
    assert!(moat.admin(&["antivirus", "clear"]).contains("Removed 5 entries"));
}

fn attachment(name: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!(
        "From: alice@sender.test\r\nTo: bob@example.com\r\nSubject: file\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {encoded}\r\n--b--\r\n"
    )
}

/// GTUBE, the standard test string of spam filters, is refused by a fresh install's default chain over real
/// SMTP (it was only tagged, through unrelated symbols).
#[tokio::test(flavor = "multi_thread")]
async fn the_gtube_test_string_is_refused() {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, Backend::Sqlite).set("filters", "builtin", "true").start().await.unwrap();
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    let gtube = "From: tester@sender.test\r\nSubject: filter test\r\n\r\n\
                 XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n";
    let reply = send(moat.smtp(), "tester@sender.test", &["bob@example.com"], gtube).await.unwrap();
    assert_eq!(reply, "554 5.7.1 Message refused: it carries the GTUBE test string");
    let log = moat.admin(&["log", "tail", "-n", "1"]);
    assert!(log.contains("GTUBE"), "{log}");
}
