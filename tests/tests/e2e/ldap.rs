//! Sign-up from the tenant's directory against a real OpenLDAP `slapd` (Active Directory's `proxyAddresses`
//! added to its schema): the admin's checks, users and their aliases signed up by their first message over
//! real SMTP, a directory that is down, and a paged synchronization — on SQLite and PostgreSQL.

use moat_tests::ldap::{BASE_DN, BIND_DN, BIND_PASSWORD, TestLdap};
use moat_tests::{Backend, Client, Moat, Sink, eventually, send};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(checks_and_sign_up_on_the_first_message, a_paged_synchronization_adds_renames_and_reports);

fn people() -> String {
    format!(
        "dn: cn=ann,{BASE_DN}\nobjectClass: inetOrgPerson\nobjectClass: moatMailUser\ncn: ann\nsn: Lee\n\
         givenName: Ann\ndisplayName: Ann Lee\nmail: ann@acme.test\nproxyAddresses: SMTP:ann@acme.test\n\
         proxyAddresses: smtp:sales@acme.test\nproxyAddresses: smtp:ann@acme2.test\n\
         proxyAddresses: X500:/o=Acme/ou=Exchange/cn=ann\nproxyAddresses: smtp:ann@elsewhere.test\n\n\
         dn: cn=bob,{BASE_DN}\nobjectClass: inetOrgPerson\ncn: bob\nsn: Roe\ndisplayName: Bob Roe\n\
         mail: bob@acme.test\n\n\
         dn: cn=carol,{BASE_DN}\nobjectClass: inetOrgPerson\ncn: carol\nsn: Poe\ndisplayName: Carol Poe\n\
         mail: carol@acme.test\n\n"
    )
}

fn settings(url: &str, extra: &str) -> String {
    format!(
        "server_type = \"active_directory\"\nurl = \"{url}\"\nbind_dn = \"{BIND_DN}\"\nbase_dn = \"{BASE_DN}\"\n\
         user_attributes = [\"mail\"]\nuser_filter = \"(objectClass=inetOrgPerson)\"\n{extra}"
    )
}

async fn start(backend: Backend) -> Option<(Moat, TestLdap, Sink)> {
    let Some(ldap) = TestLdap::start(&people()) else {
        assert!(std::env::var_os("CI").is_none(), "CI installs slapd (scripts/setup) and must run the LDAP tests");
        eprintln!("skipped: slapd is not installed");
        return None;
    };
    let moat = Moat::builder(BIN, backend).start().await;
    let Some(moat) = moat else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return None;
    };
    let sink = Sink::start().await;
    let downstream = format!("{}:{}:10", sink.addr.ip(), sink.addr.port());
    moat.admin(&["tenant", "add", "acme"]);
    for domain in ["acme.test", "acme2.test"] {
        moat.admin(&[
            "domain",
            "add",
            domain,
            "--downstream",
            &downstream,
            "--tenant",
            "acme",
            "--contact",
            "it@acme.test",
        ]);
    }
    Some((moat, ldap, sink))
}

fn set(moat: &Moat, toml: &str, password: &str) -> std::process::Output {
    let file = moat.write_file("ldap.toml", toml.as_bytes());
    moat.cli_with_input(&["ldap", "set", &file, "--tenant", "acme", "--bind-password-stdin"], &format!("{password}\n"))
}

fn check(moat: &Moat, args: &[&str]) -> (bool, String) {
    let mut all = vec!["ldap", "check", "acme.test"];
    all.extend_from_slice(args);
    let out = moat.cli(&all);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn rcpt(moat: &Moat, address: &str) -> String {
    let mut c = Client::connect(moat.smtp()).await.unwrap();
    c.expect("220").await.unwrap();
    c.cmd("EHLO client.test\r\n").await.unwrap();
    c.cmd("MAIL FROM:<a@sender.test>\r\n").await.unwrap();
    c.cmd(&format!("RCPT TO:<{address}>\r\n")).await.unwrap()
}

async fn checks_and_sign_up_on_the_first_message(backend: Backend) {
    let Some((moat, mut ldap, sink)) = start(backend).await else { return };
    let plain = format!("ldap://127.0.0.1:{}", ldap.plain.port());

    // The three checks, and what each failure says.
    let out = set(&moat, &settings(&plain, ""), "Wrong_pass.1");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (ok, text) = check(&moat, &[]);
    assert!(!ok && text.contains("refused the bind DN or password"), "{text}");
    let refused = moat.cli(&["domain", "signup", "acme.test", "ldap"]);
    assert!(!refused.status.success(), "sign-up is not turned on while the directory does not answer");
    let down = moat_tests::ClosedPort::new();
    let closed = down.addr;
    assert!(set(&moat, &settings(&format!("ldap://{closed}"), ""), BIND_PASSWORD).status.success());
    let (ok, text) = check(&moat, &[]);
    assert!(!ok && text.contains("cannot be reached"), "{text}");
    let ldaps = format!("ldaps://localhost:{}", ldap.tls.port());
    assert!(set(&moat, &settings(&ldaps, ""), BIND_PASSWORD).status.success());
    let (ok, text) = check(&moat, &[]);
    assert!(!ok && text.contains("TLS"), "a certificate nobody vouches for is refused: {text}");
    let trusted = settings(&ldaps, &format!("ca_pem = '''\n{}'''\n", ldap.ca_pem()));
    assert!(set(&moat, &trusted, BIND_PASSWORD).status.success());
    let (ok, text) = check(&moat, &["--user", "ann@acme.test", "--alias", "sales@acme.test"]);
    assert!(ok, "{text}");
    assert!(text.contains("connection: ok") && text.contains("user: ann@acme.test (Ann Lee)"), "{text}");
    assert!(text.contains("alias: of ann@acme.test"), "{text}");
    let (ok, text) = check(&moat, &["--user", "ghost@acme.test"]);
    assert!(!ok && text.contains("no user ghost@acme.test"), "{text}");
    // The same checks through the REST API, as the tenant's admin.
    let token = moat.api_token("acme-admin", &["--tenant", "acme"]);
    let (status, found) = moat
        .console_send(
            "POST",
            "/api/v1/domains/acme.test/ldap/check",
            &token,
            Some(serde_json::json!({"user": "bob@acme.test", "alias": "sales@acme.test"})),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["connection_error"], serde_json::Value::Null);
    assert_eq!(found["user"]["Ok"], serde_json::json!(["bob@acme.test", "Bob Roe"]));
    assert_eq!(found["alias"]["Ok"], "ann@acme.test");

    // The password is sealed in the store, never shown.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&moat.database_url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar("SELECT settings FROM ldap_settings").fetch_all(&pool).await.unwrap();
    assert!(!stored.is_empty() && stored.iter().all(|s| !s.contains(BIND_PASSWORD) && s.contains("moat-sealed:")));
    pool.close().await;
    assert!(!moat.admin(&["ldap", "show", "--tenant", "acme"]).contains("sealed"));

    for domain in ["acme.test", "acme2.test"] {
        moat.admin(&["domain", "signup", domain, "ldap"]);
    }
    // An alias's first message signs its person up: the mailbox with the directory's name, and every alias
    // the directory lists in the tenant's domains.
    let reply =
        send(moat.smtp(), "a@sender.test", &["sales@acme.test"], "Subject: order\r\n\r\nhello\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let got = eventually(20, "delivery", || async { sink.received().pop() }).await;
    assert_eq!(got.to, ["sales@acme.test"]);
    let mailboxes = moat.admin(&["mailbox", "list"]);
    assert!(mailboxes.contains("ann@acme.test") && mailboxes.contains("Ann Lee"), "{mailboxes}");
    let aliases = moat.admin(&["alias", "list"]);
    assert!(aliases.contains("sales@acme.test") && aliases.contains("ann@acme2.test"), "{aliases}");
    assert!(!aliases.contains("elsewhere"), "only the tenant's domains: {aliases}");
    assert!(rcpt(&moat, "ann@acme2.test").await.starts_with("250"));
    assert!(rcpt(&moat, "bob@acme.test").await.starts_with("250"), "a primary address signs up too");
    assert!(rcpt(&moat, "ghost@acme.test").await.starts_with("550 5.1.1"));
    let tenants = moat.admin(&["tenant", "list"]);
    assert!(tenants.contains("acme\tlicenses 2/"), "two mailboxes (and ann's aliases) take two licenses: {tenants}");

    // The directory down: the sender is asked to retry, and the retry succeeds once it is back.
    ldap.stop();
    assert!(rcpt(&moat, "carol@acme.test").await.starts_with("451"));
    ldap.restart();
    let reply = send(moat.smtp(), "a@sender.test", &["carol@acme.test"], "Subject: retry\r\n\r\nhi\r\n").await.unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    eventually(20, "carol's message", || async {
        sink.received().into_iter().find(|m| m.to == ["carol@acme.test"]).map(|_| ())
    })
    .await;
}

async fn a_paged_synchronization_adds_renames_and_reports(backend: Backend) {
    let Some((moat, mut ldap, sink)) = start(backend).await else { return };
    let plain = format!("ldap://127.0.0.1:{}", ldap.plain.port());
    // A page smaller than the directory: the search must follow RFC 2696's cookies to see everyone.
    assert!(set(&moat, &settings(&plain, "page_size = 1\n"), BIND_PASSWORD).status.success());
    moat.admin(&["mailbox", "add", "bob@acme.test", "--name", "Robert Roe"]);
    moat.admin(&["mailbox", "add", "old@acme.test"]);
    ldap.add_offline(&format!(
        "dn: cn=dave,{BASE_DN}\nobjectClass: inetOrgPerson\ncn: dave\nsn: Doe\ndisplayName: Dave Doe\nmail: dave@acme.test\n"
    ));
    let out = moat.admin(&["ldap", "sync", "acme.test"]);
    assert!(out.contains("3 new, 1 renamed, 2 aliases added, 1 no longer in the directory (kept)"), "{out}");
    assert!(out.contains("departed: old@acme.test"), "{out}");
    let mailboxes = moat.admin(&["mailbox", "list"]);
    for expected in ["ann@acme.test", "carol@acme.test", "dave@acme.test", "Bob Roe", "old@acme.test"] {
        assert!(mailboxes.contains(expected), "{expected}: {mailboxes}");
    }
    let notice = eventually(20, "the contact's summary", || async {
        sink.received().into_iter().find(|m| m.to == ["it@acme.test"] && m.text().contains("directory synchronization"))
    })
    .await;
    assert!(notice.text().contains("old@acme.test"), "{}", notice.text());

    // A second synchronization with nothing new changes nothing.
    ldap.modify_offline(&format!(
        "dn: cn=carol,{BASE_DN}\nchangetype: modify\nreplace: displayName\ndisplayName: Carol Moe\n"
    ));
    let out = moat.admin(&["ldap", "sync", "acme.test"]);
    assert!(out.contains("0 new, 1 renamed, 0 aliases added"), "{out}");
}
