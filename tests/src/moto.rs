//! A `moto_server` (an S3-compatible server from PyPI) on a free loopback port, stopped on drop: the object
//! storage of the S3 message store's tests.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts one with bucket `bucket`; None when `moto_server` is not installed (CI must have it).
    pub fn start(bucket: &str) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let Ok(child) = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            assert!(std::env::var_os("CI").is_none(), "CI must test the S3 store: scripts/setup installs moto_server");
            return None;
        };
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let up = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(50));
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "moto_server did not start on port {port}");
        let create =
            format!("import urllib.request as u; u.urlopen(u.Request('{}/{bucket}', method='PUT'))", moto.endpoint);
        assert!(Command::new("python3").args(["-c", &create]).status().unwrap().success(), "bucket {bucket} made");
        Some(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
