//! A real OpenLDAP `slapd` for one test (Debian's package): its own config, mdb database and listeners on
//! free loopback ports (plain and LDAPS with a generated certificate), a small schema adding Active
//! Directory's multi-valued `proxyAddresses`, seeded from LDIF with `slapadd` before it starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The directory's suffix and the account that may bind.
pub const BASE_DN: &str = "dc=acme,dc=test";
pub const BIND_DN: &str = "cn=admin,dc=acme,dc=test";
pub const BIND_PASSWORD: &str = "Directory_pass.7";

const SCHEMA: &str = "attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'proxyAddresses'
\tEQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
\tSYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'moatMailUser' SUP top AUXILIARY
\tMAY ( proxyAddresses ) )
";

pub struct TestLdap {
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub plain: SocketAddr,
    pub tls: SocketAddr,
    ca_pem: String,
}

fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

impl TestLdap {
    /// Starts slapd seeded with `ldif` (entries below [`BASE_DN`]; the base entry is added here); `None` when
    /// slapd is not installed.
    pub fn start(ldif: &str) -> Option<Self> {
        if !Path::new("/usr/sbin/slapd").exists() {
            return None;
        }
        let dir = tempfile::Builder::new().prefix("moat-slapd").tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        std::fs::create_dir(path("db")).unwrap();
        std::fs::write(path("moat.schema"), SCHEMA).unwrap();
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(path("cert.pem"), pair.cert.pem()).unwrap();
        std::fs::write(path("key.pem"), pair.signing_key.serialize_pem()).unwrap();
        let config = format!(
            "modulepath /usr/lib/ldap\nmoduleload back_mdb\n\
             include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\ninclude {schema}\n\
             pidfile {pid}\nTLSCertificateFile {cert}\nTLSCertificateKeyFile {key}\n\
             database mdb\nmaxsize 10485760\nsuffix \"{BASE_DN}\"\nrootdn \"{BIND_DN}\"\nrootpw {BIND_PASSWORD}\n\
             directory {db}\nindex objectClass eq\nindex mail,proxyAddresses eq\n",
            schema = path("moat.schema").display(),
            pid = path("slapd.pid").display(),
            cert = path("cert.pem").display(),
            key = path("key.pem").display(),
            db = path("db").display(),
        );
        std::fs::write(path("slapd.conf"), config).unwrap();
        let seed =
            format!("dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\no: Acme\ndc: acme\n\n{ldif}");
        std::fs::write(path("seed.ldif"), seed).unwrap();
        let added = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(path("slapd.conf"))
            .arg("-l")
            .arg(path("seed.ldif"))
            .output()
            .unwrap();
        assert!(added.status.success(), "slapadd: {}", String::from_utf8_lossy(&added.stderr));
        let mut ldap = TestLdap { dir, child: None, plain: free_port(), tls: free_port(), ca_pem: pair.cert.pem() };
        ldap.run();
        Some(ldap)
    }

    fn run(&mut self) {
        let urls = format!("ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/", self.plain.port(), self.tls.port());
        let child = Command::new("/usr/sbin/slapd")
            .arg("-d")
            .arg("0")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(urls)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(self.plain).is_ok() && std::net::TcpStream::connect(self.tls).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("slapd did not start");
    }

    /// Stops the server (the directory is down) until [`TestLdap::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Adds entries while the server is stopped (slapadd writes the database directly).
    pub fn add_offline(&mut self, ldif: &str) {
        self.offline("/usr/sbin/slapadd", ldif);
    }

    /// Applies LDIF changes (`changetype: modify` / `delete`) while the server is stopped.
    pub fn modify_offline(&mut self, ldif: &str) {
        self.offline("/usr/sbin/slapmodify", ldif);
    }

    fn offline(&mut self, tool: &str, ldif: &str) {
        self.stop();
        let path = self.dir.path().join("more.ldif");
        std::fs::write(&path, ldif).unwrap();
        let added =
            Command::new(tool).arg("-f").arg(self.dir.path().join("slapd.conf")).arg("-l").arg(&path).output().unwrap();
        assert!(added.status.success(), "{tool}: {}", String::from_utf8_lossy(&added.stderr));
        self.run();
    }

    /// The certificate of the LDAPS listener (self-signed, for `localhost`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

impl Drop for TestLdap {
    fn drop(&mut self) {
        self.stop();
    }
}
