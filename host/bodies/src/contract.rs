//! One contract, every message store: the same checks run against the filesystem, the database (SQLite,
//! and PostgreSQL when the test server is there) and S3-compatible storage (a `moto_server` started here).

use crate::*;
use moat_store::{Durability, Store};
use std::time::Duration;

async fn check(store: &dyn MessageStore) {
    let key = put(store, &[b"Received: x\r\n", b"Subject: hi\r\n\r\nbody\r\n"]).await.unwrap();
    assert_eq!(key, BodyKey::of(&[b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"]));
    assert_eq!(store.get(&key).await.unwrap().unwrap(), b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n");
    assert_eq!(put(store, &[b"Received: x\r\nSubject: hi\r\n\r\nbody\r\n"]).await.unwrap(), key, "idempotent");

    let other = put(store, &[b"other"]).await.unwrap();
    let now = moat_store::unix_now();
    let listed = store.stored_before(now + 5).await.unwrap();
    assert!(listed.contains(&key) && listed.contains(&other), "{} lists what it holds", store.kind());
    assert!(store.stored_before(now - 3600).await.unwrap().is_empty(), "nothing was stored an hour ago");

    store.delete(&other).await.unwrap();
    store.delete(&other).await.unwrap();
    assert!(store.get(&other).await.unwrap().is_none(), "deleted");
    assert!(store.get(&BodyKey::of(&[b"never stored"])).await.unwrap().is_none());
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn the_filesystem_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = Filesystem::open(dir.path(), true).unwrap();
    check(&store).await;

    // A temp file a crash left: a second process opening the store (a CLI command) must not take a live
    // write's temp file from under it; the sweep's listing removes it once it is old.
    let half = dir.path().join("bodies/ab/tmp.ab12.77-0");
    std::fs::write(&half, b"cut short").unwrap();
    Filesystem::open(dir.path(), true).unwrap();
    assert!(half.exists(), "opening removes nothing");
    let now = moat_store::unix_now();
    assert!(store.stored_before(now - 3600).await.unwrap().is_empty());
    assert!(half.exists(), "younger than the cutoff");
    let listed = store.stored_before(now + 5).await.unwrap();
    assert!(!half.exists(), "a stale temp file goes with the sweep");
    assert!(listed.iter().all(|k| BodyKey::parse(k.as_str()).is_some()), "a temp file is never listed as a body");

    // An earlier version's crash left its temp file in `tmp/`.
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    std::fs::write(dir.path().join("tmp/old"), b"cut short").unwrap();
    store.stored_before(now - 3600).await.unwrap();
    assert!(!dir.path().join("tmp").exists(), "the old temp directory goes with the sweep");
}

/// Temp files are written beside their destination, not in one shared directory (whose lock every concurrent
/// write contended for), and none is left once the write returns.
#[tokio::test]
async fn filesystem_writes_leave_no_temp_file_and_no_shared_temp_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Filesystem::open(dir.path(), true).unwrap();
    let writes = (0..16u8).map(|i| {
        let store = store.clone();
        async move {
            let bytes = [i; 100];
            let key = BodyKey::of(&[&bytes]);
            store.write(&key, &[&bytes]).await.unwrap();
            key
        }
    });
    let keys = futures_util::future::join_all(writes).await;
    assert!(!dir.path().join("tmp").exists(), "no shared temp directory");
    let mut names = Vec::new();
    for fan in std::fs::read_dir(dir.path().join("bodies")).unwrap() {
        for entry in std::fs::read_dir(fan.unwrap().path()).unwrap() {
            names.push(entry.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "each body in place, no temp file left");
}

#[tokio::test]
async fn the_database_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("moat.db").display());
    check(&Database::new(Store::open(&url, Durability::Full).await.unwrap())).await;
    if let Ok(url) = std::env::var("MOAT_TEST_POSTGRES_URL") {
        check(&Database::new(Store::open(&url, Durability::Full).await.unwrap())).await;
    }
}

#[tokio::test]
async fn the_s3_store_keeps_the_contract() {
    let Some(moto) = Moto::start() else { return };
    let store = S3::open(&moto.settings("contract")).unwrap();
    check(&store).await;
}

#[tokio::test]
async fn a_sweep_takes_only_old_bodies_nothing_refers_to() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("moat.db").display());
    let store = Store::open(&url, Durability::Full).await.unwrap();
    let bodies = Filesystem::open(dir.path().join("spool"), false).unwrap();
    let orphan = put(&bodies, &[b"never committed"]).await.unwrap();
    let now = moat_store::unix_now();
    assert_eq!(sweep(&store, &bodies, Duration::ZERO, now).await.unwrap(), 0, "younger than the grace period");
    let later = now + GRACE.as_secs() as i64 + 10;
    assert_eq!(sweep(&store, &bodies, Duration::ZERO, later).await.unwrap(), 1);
    assert!(bodies.get(&orphan).await.unwrap().is_none());
}

/// A `moto_server` (S3-compatible, from PyPI) on a free loopback port, stopped on drop. None outside CI when
/// it is not installed; CI must have it.
pub(crate) struct Moto {
    child: std::process::Child,
    port: u16,
}

impl Moto {
    pub(crate) fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            assert!(std::env::var_os("CI").is_none(), "CI must test the S3 store: install moto_server (scripts/setup)");
            return None;
        };
        let moto = Self { child, port };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not start on port {port}");
    }

    /// Settings for a new bucket `name` (made here: moto starts empty).
    pub(crate) fn settings(&self, name: &str) -> S3Settings {
        let endpoint = format!("http://127.0.0.1:{}", self.port);
        let made = std::process::Command::new("python3")
            .args([
                "-c",
                &format!("import urllib.request as u; u.urlopen(u.Request('{endpoint}/{name}', method='PUT'))"),
            ])
            .status()
            .unwrap();
        assert!(made.success(), "bucket {name} made");
        S3Settings {
            endpoint,
            bucket: name.into(),
            region: "us-east-1".into(),
            prefix: "moat".into(),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
