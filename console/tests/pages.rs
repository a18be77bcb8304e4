//! The console's pages through the router (`oneshot`), as a browser uses them: sign-in with cookies, CSRF
//! tokens in forms, throttling, the TOTP step, and every page for every role.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use moat_console::{AppState, app};
use moat_store::{Delegation, DownstreamHost, Durability, NewDomain, Role, Store};
use std::collections::HashMap;
use tower::ServiceExt;

const PASSWORD: &str = "Secret_pass1";

struct World {
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::None).await.unwrap();
    let acme = store.tenant_add("acme", 0).await.unwrap();
    let other = store.tenant_add("other", 0).await.unwrap();
    let hash = moat_directory::hash_password(PASSWORD).unwrap();
    let mut ids = Vec::new();
    for (tenant, name) in [(acme, "acme.test"), (acme, "acme2.test"), (other, "other.test")] {
        let downstream = [DownstreamHost { host: format!("mx.{name}"), port: 25, priority: 10 }];
        let new = NewDomain {
            tenant_id: tenant,
            name,
            alias_of: None,
            contact_email: None,
            max_users: None,
            language: if name == "acme2.test" { "es" } else { "en" },
            downstream: &downstream,
        };
        let id = store.domain_add(&new, 0).await.unwrap();
        let bob = store.mailbox_add(id, "bob", Some("Bob"), 0).await.unwrap();
        store.mailbox_set_password(bob, &hash).await.unwrap();
        ids.push(id);
    }
    store.admin_add("root", &hash, Role::Platform, 0).await.unwrap();
    store.admin_add("acme-admin", &hash, Role::Tenant(acme), 0).await.unwrap();
    let delegate = store.admin_add("delegate", &hash, Role::Domain(acme), 0).await.unwrap();
    let delegation = Delegation { open_panels: true, view_emails: false, view_headers: false };
    store.admin_delegate(delegate, &ids[..1], delegation).await.unwrap();
    let plain = store.admin_add("plain-delegate", &hash, Role::Domain(acme), 0).await.unwrap();
    store.admin_delegate(plain, &ids[..1], Delegation::default()).await.unwrap();
    let directory = moat_directory::Directory::new(store.clone());
    World { state: AppState::new(store.clone(), directory, common::bodies(&store)), _dir: dir }
}

/// A browser: keeps cookies, follows nothing by itself.
struct Browser<'a> {
    world: &'a World,
    cookies: HashMap<String, String>,
    /// The client address the console sees (none: "unknown", shared by every such browser).
    from: Option<std::net::SocketAddr>,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        self.body[at..at + 64].to_owned()
    }
}

impl<'a> Browser<'a> {
    fn new(world: &'a World) -> Self {
        Self { world, cookies: HashMap::new(), from: None }
    }

    /// A browser on another client address.
    fn from(world: &'a World, ip: &str) -> Self {
        Self { from: Some(format!("{ip}:40000").parse().unwrap()), ..Self::new(world) }
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Page {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let mut request = request.header(header::COOKIE, cookie).body(body).unwrap();
        if let Some(addr) = self.from {
            request.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        }
        let response = app(self.world.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned());
        let set_cookies: Vec<String> =
            response.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        for cookie in &set_cookies {
            let (pair, _) = cookie.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = String::from_utf8_lossy(&response.into_body().collect().await.unwrap().to_bytes()).into_owned();
        Page { status, location, set_cookies, body }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path), Body::empty()).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!("{k}={}", v.replace('%', "%25").replace('&', "%26").replace('+', "%2B").replace(' ', "+"))
            })
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        self.send(request, Body::from(body)).await
    }

    async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let token = form.csrf();
        self.post("/login", &[("csrf", &token), ("name", name), ("password", password), ("lang", "en")]).await
    }
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_session_and_signing_out_ends_it() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "pages need a session");
    let page = browser.sign_in("root", PASSWORD).await;
    assert_eq!((page.status, page.location.as_deref()), (StatusCode::SEE_OTHER, Some("/")));
    let session = page.set_cookies.iter().find(|c| c.starts_with("moat_session=")).unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let status = browser.get("/").await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.body.contains("Licenses in use"), "{}", status.body);
    let token = status.csrf();
    let out = browser.post("/logout", &[("csrf", &token)]).await;
    assert_eq!(out.location.as_deref(), Some("/login"));
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"), "the session is gone");
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_are_refused() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    browser.sign_in("root", PASSWORD).await;
    let page = browser.post("/domains", &[("csrf", "0000"), ("action", "create"), ("name", "x.test")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(world.state.store.domain_by_name("x.test").await.unwrap().is_none());
    let token = browser.get("/domains").await.csrf();
    let page = browser
        .post(
            "/domains",
            &[("csrf", &token), ("action", "create"), ("name", "x.test"), ("downstream", "mx.x.test:25:5")],
        )
        .await;
    let location = page.location.expect("a redirect");
    assert!(location.starts_with("/domains/x.test?done="), "{location}");
    assert!(!location.contains("created"), "the message stays on the server: {location}");
    let shown = browser.get(&location).await;
    assert!(shown.body.contains("Domain created."), "{}", shown.body);
    assert!(!browser.get(&location).await.body.contains("Domain created."), "shown once");
    let forged = browser.get("/domains?done=Your%20account%20is%20suspended,%20call%20555").await;
    assert!(!forged.body.contains("suspended"), "no text from the URL reaches the page");
    assert!(world.state.store.domain_by_name("x.test").await.unwrap().is_some());

    // The login form's own token is a double-submit cookie: another site's form cannot sign anyone in.
    let mut stranger = Browser::new(&world);
    let page = stranger.post("/login", &[("csrf", "abc"), ("name", "root"), ("password", PASSWORD)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_for_a_while() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    for _ in 0..5 {
        let page = browser.sign_in("acme-admin", "wrong-password").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(page.body.contains("Wrong name or password."));
    }
    let page = browser.sign_in("acme-admin", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(page.body.contains("try again in 15 minutes"), "{}", page.body);
    assert_eq!(browser.sign_in("root", PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS, "same address");
    let page = browser.sign_in("nobody", "whatever-x").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);

    // Another node of a cluster (its own console over the same database) counts the same failures.
    let store = world.state.store.clone();
    let directory = moat_directory::Directory::new(store.clone());
    let other_node = World {
        state: AppState::new(store.clone(), directory, common::bodies(&store)),
        _dir: tempfile::tempdir().unwrap(),
    };
    let page = Browser::from(&other_node, "198.51.100.4").sign_in("acme-admin", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "the account is locked on every node");
}

#[tokio::test]
async fn an_admin_with_totp_needs_the_code_after_the_password() {
    let world = world().await;
    let secret = moat_console::totp::generate_secret();
    let admin = world.state.store.admin_by_name("root").await.unwrap().unwrap();
    world.state.store.admin_set_totp(admin.id, Some(&secret)).await.unwrap();
    let mut browser = Browser::new(&world);
    let page = browser.sign_in("root", PASSWORD).await;
    assert_eq!(page.location.as_deref(), Some("/login/totp"));
    assert_eq!(browser.get("/domains").await.location.as_deref(), Some("/login/totp"), "no page before the code");
    let form = browser.get("/login/totp").await;
    let token = form.csrf();
    let page = browser.post("/login/totp", &[("csrf", &token), ("code", "000000")]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let code = moat_console::totp::current(&secret, now).unwrap();
    let page = browser.post("/login/totp", &[("csrf", &token), ("code", &code)]).await;
    assert_eq!(page.location.as_deref(), Some("/"));
    assert_eq!(browser.get("/domains").await.status, StatusCode::OK);

    // Regression: the same code was accepted twice. One seen over a shoulder must not sign anyone in.
    let mut replay = Browser::new(&world);
    replay.sign_in("root", PASSWORD).await;
    let token = replay.get("/login/totp").await.csrf();
    let page = replay.post("/login/totp", &[("csrf", &token), ("code", &code)]).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "a used code is refused");
}

/// Every page, as each role.
#[tokio::test]
async fn every_page_for_every_role() {
    use StatusCode as S;
    const OK: S = S::OK;
    const NO: S = S::FORBIDDEN;
    const NONE: S = S::NOT_FOUND;
    let world = world().await;
    // [platform, tenant acme, domain admin of acme.test (may open panels), end user bob@acme.test]
    let cases: &[(&str, [S; 4])] = &[
        ("/domains", [OK, OK, OK, NO]),
        ("/domains/acme.test", [OK, OK, OK, NO]),
        ("/domains/acme2.test", [OK, OK, NONE, NO]),
        ("/domains/other.test", [OK, NONE, NONE, NO]),
        ("/domains/acme.test/directory", [OK, OK, NO, NO]),
        ("/domains/other.test/directory", [OK, NONE, NO, NO]),
        ("/users", [OK, OK, OK, NO]),
        ("/users?domain=acme2.test", [OK, OK, NONE, NO]),
        ("/users/export.csv", [OK, OK, OK, NO]),
        ("/import", [OK, OK, NO, NO]),
        ("/admins", [OK, OK, NO, NO]),
        ("/filtering", [OK, OK, NO, NO]),
        ("/filtering?direction=outbound", [OK, OK, NO, NO]),
        ("/branding", [OK, OK, NO, NO]),
        ("/quarantine", [OK, OK, OK, OK]),
        ("/quarantine?user=bob@acme.test", [OK, OK, OK, OK]),
        ("/quarantine?user=bob@acme2.test", [OK, OK, NONE, OK]),
        ("/lists", [OK, OK, OK, OK]),
        ("/lists?owner=*", [OK, NO, NO, OK]),
        ("/lists?owner=tenant:acme", [OK, OK, NO, OK]),
        ("/lists?owner=tenant:other", [OK, NONE, NO, OK]),
        ("/lists?owner=acme.test", [OK, OK, OK, OK]),
        ("/lists?owner=acme2.test", [OK, OK, NONE, OK]),
        ("/lists?owner=bob@acme.test", [OK, OK, OK, OK]),
        ("/lists?owner=bob@other.test", [OK, NONE, NONE, OK]),
        ("/account", [OK, OK, OK, OK]),
        ("/log", [OK, OK, OK, NO]),
        ("/alerts", [OK, OK, NO, NO]),
        ("/admins/delegate", [OK, OK, NO, NO]),
        ("/users/bob@acme.test", [OK, OK, OK, NO]),
        ("/domains/acme.test/edit", [OK, OK, NO, NO]),
    ];
    for (role, name) in ["root", "acme-admin", "delegate", "bob@acme.test"].iter().enumerate() {
        let mut browser = Browser::new(&world);
        assert_eq!(browser.sign_in(name, PASSWORD).await.status, S::SEE_OTHER, "{name} signs in");
        for (path, expected) in cases {
            let page = browser.get(path).await;
            assert_eq!(page.status, expected[role], "{path} as {name}: {}", &page.body[..page.body.len().min(400)]);
        }
    }
    // An end user's quarantine filter is its own, whatever it asks for; its lists are its own.
    let mut bob = Browser::new(&world);
    bob.sign_in("bob@acme.test", PASSWORD).await;
    assert_eq!(bob.get("/").await.location.as_deref(), Some("/quarantine"));
    let lists = bob.get("/lists?owner=bob@other.test").await;
    assert!(lists.body.contains("bob@acme.test") && !lists.body.contains("bob@other.test"), "{}", lists.body);
    // A domain admin without the panel permission cannot open a user's panel.
    let mut plain = Browser::new(&world);
    plain.sign_in("plain-delegate", PASSWORD).await;
    assert_eq!(plain.get("/quarantine?user=bob@acme.test").await.status, S::FORBIDDEN);
    assert_eq!(plain.get("/lists?owner=bob@acme.test").await.status, S::FORBIDDEN);
}

#[tokio::test]
async fn users_see_the_console_in_their_domains_language() {
    let world = world().await;
    let mut bob = Browser::new(&world);
    assert_eq!(bob.sign_in("bob@acme2.test", PASSWORD).await.status, StatusCode::SEE_OTHER);
    let page = bob.get("/quarantine").await;
    assert!(page.body.contains("lang=\"es\"") && page.body.contains("No hay mensajes en cuarentena."), "{}", page.body);
    let token = page.csrf();
    bob.post("/account/settings", &[("csrf", &token), ("language", "en")]).await;
    assert!(bob.get("/quarantine").await.body.contains("No messages in quarantine."), "the user's own choice wins");
    let login = Browser::new(&world).get("/login?lang=es").await;
    assert!(login.body.contains("Iniciar sesión"));
}

#[tokio::test]
async fn end_users_keep_their_own_trust_lists() {
    let world = world().await;
    let mut bob = Browser::new(&world);
    bob.sign_in("bob@acme.test", PASSWORD).await;
    let token = bob.get("/lists").await.csrf();
    let page = bob.post("/lists", &[("csrf", &token), ("list", "deny"), ("value", "Spammer@Bad.test")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let entries = world.state.directory.list_entries("acme", None).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].key, "bob@acme.test|sender|spammer@bad.test");
    let page = bob.post("/lists", &[("csrf", &token), ("list", "allow"), ("value", "not a thing")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let confirm = bob.post("/lists/remove", &[("csrf", &token), ("value", "spammer@bad.test")]).await;
    assert!(confirm.body.contains("leaves this list") && confirm.body.contains("spammer@bad.test"), "{}", confirm.body);
    assert_eq!(world.state.directory.list_entries("acme", None).await.unwrap().len(), 1, "not removed unconfirmed");
    bob.post("/lists/remove", &[("csrf", &token), ("value", "spammer@bad.test"), ("confirm", "yes")]).await;
    assert!(world.state.directory.list_entries("acme", None).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_import_uploaded_through_the_page_runs_and_shows_its_result() {
    let world = world().await;
    let mut browser = Browser::new(&world);
    browser.sign_in("acme-admin", PASSWORD).await;
    let token = browser.get("/import").await.csrf();
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"domain\"\r\n\r\nacme.test\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"team.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nAnn, ann, Secret.123, annie\r\nZed, zed@acme.test\r\n\r\n--{boundary}--\r\n"
    );
    let request =
        Request::post("/import").header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    let page = browser.send(request, Body::from(body.clone())).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "zed has a domain while one was chosen: {}", page.body);
    assert!(page.body.contains("line 2"), "{}", page.body);

    let body = body.replace("Zed, zed@acme.test", "Zed, zed");
    let request =
        Request::post("/import").header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    let page = browser.send(request, Body::from(body)).await;
    let location = page.location.expect("redirect to the job");
    let path = location.split('?').next().unwrap().to_owned();
    for _ in 0..200 {
        let page = browser.get(&path).await;
        if page.body.contains("id=\"import-status\">finished") {
            assert!(page.body.contains("id=\"import-imported\">2"), "{}", page.body);
            let users = moat_directory::Directory::new(world.state.store.clone());
            assert_eq!(users.resolve("annie@acme.test").await.unwrap().mailbox_address, "ann@acme.test");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the import did not finish");
}

/// The email log: each admin reads its domains' messages; headers and text need the delegated permissions.
#[tokio::test]
async fn the_email_log_shows_headers_and_text_only_to_those_allowed() {
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let id = common::hold_for_bob(store, acme).await;
    let path = format!("/log/{id}");

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    assert!(admin.get("/log").await.body.contains("Cheap watches"));
    let page = admin.get(&path).await;
    assert!(page.body.contains("X-Secret-Header: yes") && page.body.contains("Buy now"), "{}", page.body);

    let mut delegate = Browser::new(&world);
    delegate.sign_in("delegate", PASSWORD).await;
    let page = delegate.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "the message is to its domain");
    assert!(!page.body.contains("X-Secret-Header") && !page.body.contains("Buy now"), "no permission: {}", page.body);
    let delegate_id = store.admin_by_name("delegate").await.unwrap().unwrap().id;
    let acme_test = store.domain_by_name("acme.test").await.unwrap().unwrap().id;
    let headers_only = Delegation { open_panels: true, view_emails: false, view_headers: true };
    store.admin_delegate(delegate_id, &[acme_test], headers_only).await.unwrap();
    let page = delegate.get(&path).await;
    assert!(page.body.contains("X-Secret-Header") && !page.body.contains("Buy now"), "{}", page.body);
    // Deny the sender and the client's IP for the domain from the log.
    let token = page.csrf();
    for what in ["deny-sender", "deny-ip"] {
        let listed = delegate.post(&format!("{path}/list"), &[("csrf", &token), ("what", what)]).await;
        assert_eq!(listed.status, StatusCode::SEE_OTHER, "{what}");
    }
    let entries = world.state.directory.list_entries("acme", None).await.unwrap();
    let mut keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["@acme.test|ip|192.0.2.9/32", "@acme.test|sender|promo@spam.test"], "{entries:?}");
    let forged =
        delegate.post(&format!("{path}/list"), &[("csrf", "0".repeat(64).as_str()), ("what", "allow-ip")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "CSRF");

    // Search: by text (any case) and by verdict.
    assert!(delegate.get("/log?q=WATCHES").await.body.contains("Cheap watches"));
    assert!(delegate.get("/log?q=192.0.2.9&verdict=quarantined").await.body.contains("Cheap watches"));
    assert!(!delegate.get("/log?q=nothing+like+it").await.body.contains("Cheap watches"));
    assert!(!delegate.get("/log?verdict=clean").await.body.contains("Cheap watches"));

    // Classifying needs the running gateway (its filters learn); the console alone says so and records nothing.
    let classified = delegate.post(&format!("{path}/classify"), &[("csrf", &token), ("as", "valid")]).await;
    assert_eq!(classified.status, StatusCode::SERVICE_UNAVAILABLE, "{}", classified.body);
    assert_eq!(store.log_get(id).await.unwrap().unwrap().classified, None);

    // Another tenant's admin does not see it at all.
    let mut stranger = Browser::new(&world);
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let hash = moat_directory::hash_password(PASSWORD).unwrap();
    store.admin_add("other-admin", &hash, Role::Tenant(other), 0).await.unwrap();
    stranger.sign_in("other-admin", PASSWORD).await;
    assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND);
    assert!(!stranger.get("/log").await.body.contains("Cheap watches"));
}

/// The sign-up mode on the domain's page: manual saves; SMTP is refused with the check's reason on the page
/// when the domain's server cannot be asked (no gateway here), and the mode stays manual.
#[tokio::test]
async fn the_sign_up_mode_is_saved_only_after_its_check() {
    let world = world().await;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/domains/acme.test").await;
    assert!(page.body.contains("Sign-up mode"), "{}", page.body);
    let token = page.csrf();
    let saved = admin.post("/domains/acme.test/signup", &[("csrf", &token), ("mode", "manual"), ("check", "")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let refused = admin
        .post("/domains/acme.test/signup", &[("csrf", &token), ("mode", "smtp"), ("check", "bob@acme.test")])
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("sign-up by SMTP cannot be turned on for acme.test"), "{}", refused.body);
    let domain = world.state.store.domain_by_name("acme.test").await.unwrap().unwrap();
    assert_eq!(domain.signup, moat_store::Signup::Manual);
    let forged = admin.post("/domains/acme.test/signup", &[("csrf", &"0".repeat(64)), ("mode", "manual")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

/// An end user turns the quarantine digest off and on again on the account page.
#[tokio::test]
async fn end_users_choose_whether_they_get_quarantine_digests() {
    let world = world().await;
    let mut user = Browser::new(&world);
    user.sign_in("bob@acme.test", PASSWORD).await;
    let page = user.get("/account").await;
    assert!(page.body.contains(r#"name="digest" type="checkbox" value="on" checked"#), "on by default: {}", page.body);
    let token = page.csrf();
    let store = &world.state.store;
    let domain = store.domain_by_name("acme.test").await.unwrap().unwrap().id;
    let bob = store.mailbox_find(domain, "bob").await.unwrap().unwrap().id;
    let saved = user.post("/account/settings", &[("csrf", &token), ("language", "en")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(!store.mailbox_digest(bob).await.unwrap(), "an unticked box turns it off");
    user.post("/account/settings", &[("csrf", &token), ("language", "en"), ("digest", "on")]).await;
    assert!(store.mailbox_digest(bob).await.unwrap());

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    assert!(!admin.get("/account").await.body.contains("name=\"digest\""), "admins have no quarantine of their own");
}

/// Refusals reach a Spanish-speaking user in Spanish: the directory's own and the console's.
#[tokio::test]
async fn refusals_are_shown_in_the_users_language() {
    let world = world().await;
    let mut user = Browser::new(&world);
    user.sign_in("bob@acme.test", PASSWORD).await;
    let token = user.get("/account").await.csrf();
    user.post("/account/settings", &[("csrf", &token), ("language", "es"), ("digest", "on")]).await;
    let page = user.post("/account/password", &[("csrf", &token), ("current", PASSWORD), ("new", "short")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("las contraseñas tienen de 8 a 64 caracteres (esta tiene 5)"), "{}", page.body);

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let token = admin.get("/account").await.csrf();
    admin.post("/account/settings", &[("csrf", &token), ("language", "es"), ("email", "")]).await;
    let token = admin.get("/users").await.csrf();
    let page = admin.post("/users", &[("csrf", &token), ("domain", "acme.test"), ("login", "Bad!Name")]).await;
    assert!(page.body.contains("solo admite letras, dígitos"), "{}", page.body);
}

/// Attack: an end user releases what the antivirus held (a dangerous attachment) to themselves. Only an
/// admin may, and the page warns the admin first.
#[tokio::test]
async fn end_users_cannot_release_what_the_antivirus_held() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQuarantined};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let held = NewQuarantined {
        id: "av1".into(),
        tenant: acme,
        sender: "x@evil.test".into(),
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        subject: Some("Invoice".into()),
        score: 8.0,
        reason: "AV_DANGEROUS_ATTACHMENT".into(),
        received_at: 100,
        body: common::stored(store, b"Subject: Invoice\r\n\r\nsee attached\r\n").await.0,
        size: 1,
        direction: moat_store::Direction::Inbound,
    };
    let log = NewLogEntry { recipients: "bob@acme.test".into(), tenant: Some(acme.0), ..Default::default() };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap();

    let mut bob = Browser::new(&world);
    bob.sign_in("bob@acme.test", PASSWORD).await;
    let page = bob.get("/quarantine").await;
    assert!(page.body.contains("Invoice") && !page.body.contains("value=\"release:av1\""), "{}", page.body);
    let token = page.csrf();
    let page = bob.post("/quarantine/act", &[("csrf", &token), ("action", "release:av1")]).await;
    let banner = bob.get(page.location.as_deref().unwrap()).await;
    assert!(
        banner.body.contains("Messages released: 0") && banner.body.contains("only an administrator"),
        "{}",
        banner.body
    );
    let page = bob.post("/quarantine/act", &[("csrf", &token), ("action", "release-allow"), ("ids", "av1")]).await;
    let banner = bob.get(page.location.as_deref().unwrap()).await;
    assert!(banner.body.contains("only an administrator"), "ticked, it is refused the same: {}", banner.body);
    assert!(store.quarantine_get("av1").await.unwrap().unwrap().released_at.is_none());
    assert!(world.state.directory.list_entries("acme", None).await.unwrap().is_empty(), "and its sender not allowed");

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/quarantine").await;
    assert!(
        page.body.contains("Held by the antivirus") && page.body.contains("value=\"release:av1\""),
        "{}",
        page.body
    );
}

/// Attack: an end user reaches outgoing mail held by the outbound chain (sent by a colleague, to them and to
/// an outside address) and releases it. Outgoing mail held is for the admins of the sending domain only.
#[tokio::test]
async fn outgoing_mail_held_is_for_the_sending_domains_admins_only() {
    use moat_store::{Accepted, Direction, Disposition, NewLogEntry, NewQuarantined};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let held = NewQuarantined {
        id: "out1".into(),
        tenant: acme,
        sender: "ann@acme.test".into(),
        recipients: vec![
            ("bob@acme.test".into(), "acme.test".into()),
            ("carol@remote.test".into(), "remote.test".into()),
        ],
        subject: Some("Quarterly figures".into()),
        score: 11.0,
        reason: "BAYES_99".into(),
        received_at: 100,
        body: common::stored(store, b"From: ann@acme.test\r\nSubject: Quarterly figures\r\n\r\nsee attached\r\n")
            .await
            .0,
        size: 1,
        direction: Direction::Outbound,
    };
    let log = NewLogEntry {
        sender: "ann@acme.test".into(),
        recipients: "bob@acme.test, carol@remote.test".into(),
        tenant: Some(acme.0),
        direction: Direction::Outbound,
        ..Default::default()
    };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap();

    let mut bob = Browser::new(&world);
    bob.sign_in("bob@acme.test", PASSWORD).await;
    let page = bob.get("/quarantine").await;
    assert!(!page.body.contains("Quarterly figures"), "{}", page.body);
    let token = page.csrf();
    let page = bob.post("/quarantine/act", &[("csrf", &token), ("action", "release:out1")]).await;
    let banner = bob.get(page.location.as_deref().unwrap()).await;
    assert!(banner.body.contains("Messages released: 0. Not done: not found"), "{}", banner.body);

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    assert!(admin.get("/quarantine").await.body.contains("Quarterly figures"), "the sending tenant's admin sees it");
    let mut stranger = Browser::new(&world);
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let hash = moat_directory::hash_password(PASSWORD).unwrap();
    store.admin_add("other-admin", &hash, Role::Tenant(other), 0).await.unwrap();
    stranger.sign_in("other-admin", PASSWORD).await;
    assert!(!stranger.get("/quarantine").await.body.contains("Quarterly figures"));
    assert!(store.quarantine_get("out1").await.unwrap().unwrap().released_at.is_none());
}

/// Attacks on accounts: TOTP seeds readable in a copy of the database; a lockout sidestepped by spelling
/// the address with a trailing dot; an API token that outlives the password it was made with.
#[tokio::test]
async fn secrets_sealed_lockout_normalized_and_tokens_end_with_the_password() {
    let world = world().await;
    let store = &world.state.store;
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let secret = moat_console::totp::generate_secret();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let code = moat_console::totp::current(&secret, now).unwrap();
    let token = root.get("/account").await.csrf();
    let page = root.post("/account/totp", &[("csrf", &token), ("secret", &secret), ("code", &code)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let stored = store.admin_by_name("root").await.unwrap().unwrap().totp_secret.unwrap();
    assert!(stored.starts_with("moat-sealed:") && !stored.contains(&secret), "sealed at rest: {stored}");

    let admin = store.admin_by_name("acme-admin").await.unwrap().unwrap();
    store.api_token_add(admin.id, "ci", "feed", 1).await.unwrap();
    let mut owner = Browser::new(&world);
    owner.sign_in("acme-admin", PASSWORD).await;
    let token = owner.get("/account").await.csrf();
    let page =
        owner.post("/account/password", &[("csrf", &token), ("current", PASSWORD), ("new", "Brand_new.pass7")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(store.api_token_admin("feed", 2).await.unwrap().is_none(), "the token ended with the old password");

    for n in 0..5 {
        Browser::from(&world, &format!("192.0.2.{n}")).sign_in("bob@acme.test.", "Wrong_guess.1").await;
    }
    let page = Browser::from(&world, "198.51.100.7").sign_in("BOB@acme.test", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "the same mailbox, whatever the spelling");
}

/// Deleting a domain took one click and silently took its users: now a confirmation page says what goes, and
/// only its form deletes. Unknown pages and malformed ids are the console's own 404 page.
#[tokio::test]
async fn deleting_a_domain_is_confirmed_and_unknown_pages_are_a_real_404() {
    let world = world().await;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let confirm = admin.get("/domains/acme.test/delete").await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("1 users") && confirm.body.contains("cannot be undone"), "{}", confirm.body);
    let token = confirm.csrf();
    let page = admin.post("/domains/acme.test/delete", &[("csrf", &token)]).await;
    assert_eq!(page.location.as_deref(), Some("/domains/acme.test/delete"), "no confirmation: nothing deleted");
    assert!(world.state.store.domain_by_name("acme.test").await.unwrap().is_some());
    let page = admin.post("/domains/acme.test/delete", &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(world.state.store.domain_by_name("acme.test").await.unwrap().is_none());

    for path in ["/no-such-page", "/log/abc", "/import/x"] {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("<html") && page.body.contains("not found"), "{path}: {}", page.body);
        assert!(!page.body.contains("parse"), "no raw parse error: {}", page.body);
    }
}

/// A domain's outgoing mail on its page: the smart host and its ports, an SMTP credential made (its secret
/// shown once, on the answer to the form, never in a URL), revoked; DKIM keys made, rotated, the old one
/// retired. Another tenant's admin can do none of it to this domain.
#[tokio::test]
async fn admins_manage_their_domains_smtp_credentials_and_dkim_keys() {
    let world = world().await;
    let store = &world.state.store;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/domains/acme.test").await;
    assert!(page.body.contains("Outgoing mail") && page.body.contains("No SMTP credentials yet."), "{}", page.body);
    let outbound = admin.get("/filtering?direction=outbound").await.body;
    assert!(
        outbound.contains("<strong>Outgoing mail</strong>")
            && outbound.contains("name=\"direction\" value=\"outbound\"")
    );
    assert!(outbound.contains("judges what the message carries"), "{outbound}");
    let token = page.csrf();

    let made = admin.post("/domains/acme.test/smtp-credentials", &[("csrf", &token), ("label", "office server")]).await;
    assert_eq!(made.status, StatusCode::OK, "the secret is on this page, not behind a redirect");
    let stored = store.smtp_credential_list(None, None).await.unwrap();
    assert_eq!(stored.len(), 1);
    let username = &stored[0].username;
    let shown = made.body.split("password ").nth(1).and_then(|s| s.split(' ').next()).unwrap().to_owned();
    assert_eq!(shown.len(), 24, "{}", made.body);
    assert!(world.state.directory.authenticate_sender(username, &shown).await.is_ok(), "the secret shown works");
    let page = admin.get("/domains/acme.test").await;
    assert!(page.body.contains(username.as_str()) && page.body.contains("office server"));
    assert!(!page.body.contains(&shown), "shown once");

    let rotated = admin.post("/domains/acme.test/dkim/rotate", &[("csrf", &token)]).await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER);
    let page = admin.get("/domains/acme.test").await;
    assert_eq!(page.body.matches("._domainkey.acme.test. TXT").count(), 2, "{}", page.body);

    // Another tenant's admin: not found, whatever it tries.
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let hash = moat_directory::hash_password(PASSWORD).unwrap();
    store.admin_add("other-admin", &hash, Role::Tenant(other), 0).await.unwrap();
    let mut stranger = Browser::new(&world);
    stranger.sign_in("other-admin", PASSWORD).await;
    let token_x = stranger.get("/account").await.csrf();
    let revoke = [("csrf", token_x.as_str()), ("username", username.as_str()), ("confirm", "yes")];
    assert_eq!(
        stranger.post("/domains/other.test/smtp-credentials/revoke", &revoke).await.status,
        StatusCode::NOT_FOUND
    );
    let peek = format!("/domains/acme.test/smtp-credentials/revoke?username={username}");
    assert_eq!(stranger.get(&peek).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        stranger.post("/domains/acme.test/dkim/rotate", &[("csrf", &token_x)]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.smtp_credential_list(None, None).await.unwrap().len(), 1);

    // Revoking says what it does first; only the confirmation page's form revokes.
    let confirm = admin.get(&format!("/domains/acme.test/smtp-credentials/revoke?username={username}")).await;
    assert!(confirm.body.contains("can no longer send mail through Moat"), "{}", confirm.body);
    let unconfirmed =
        admin.post("/domains/acme.test/smtp-credentials/revoke", &[("csrf", &token), ("username", username)]).await;
    assert!(unconfirmed.location.as_deref().is_some_and(|l| l.contains("/smtp-credentials/revoke?username=")));
    assert_eq!(store.smtp_credential_list(None, None).await.unwrap().len(), 1, "not without the confirmation");
    let confirmed = [("csrf", token.as_str()), ("username", username.as_str()), ("confirm", "yes")];
    let revoked = admin.post("/domains/acme.test/smtp-credentials/revoke", &confirmed).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(store.smtp_credential_list(None, None).await.unwrap().is_empty());
    let forged = admin.post("/domains/acme.test/dkim/rotate", &[("csrf", "0".repeat(64).as_str())]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "CSRF");
}

/// The queue page: each admin sees the queue of what they administer, retries a message now (its next attempt
/// moves up) and deletes one after confirming; another tenant's message is "not found" for both actions.
#[tokio::test]
async fn admins_see_retry_and_delete_their_own_queued_mail() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQueuedMessage};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let later = moat_store::unix_now() + 3600;
    let queued = |id: &str, to: &str, tenant: moat_store::TenantId| {
        let route = to.rsplit_once('@').unwrap().1.to_owned();
        let message = NewQueuedMessage {
            id: id.into(),
            body: moat_store::BodyKey::of(&[id.as_bytes()]),
            sender: "ann@sender.test".into(),
            size: 10,
            received_at: 100,
            expires_at: later + 86_400,
            recipients: vec![(to.to_owned(), route)],
            account: None,
        };
        let log = NewLogEntry {
            queue_id: Some(id.into()),
            recipients: to.into(),
            tenant: Some(tenant.0),
            ..Default::default()
        };
        Accepted { log, disposition: Disposition::Queue(message) }
    };
    store
        .accept_batch(&[queued("acme1", "bob@acme.test", acme), queued("other1", "eve@other.test", other)], &[])
        .await
        .unwrap();
    // Both wait an hour for their next attempt, as after a failed one.
    let claim = moat_store::ClaimRequest {
        now: moat_store::unix_now(),
        owner: "gone-node",
        lease_until: later,
        messages: 10,
        in_flight: &[],
        route_slots: &Default::default(),
        free_per_route: 8,
    };
    let claimed = store.queue_claim_due(&claim).await.unwrap();
    for m in &claimed {
        let waiting = moat_store::AttemptResult {
            recipient_id: m.recipients[0].id,
            status: moat_store::RecipientStatus::Queued,
            next_attempt_at: later,
            reply: "451 4.3.0 try later".into(),
            attempted: true,
        };
        store.queue_settle(&m.id, "gone-node", &[waiting], 100).await.unwrap();
    }

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/queue").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("bob@acme.test") && page.body.contains("451 4.3.0 try later"), "{}", page.body);
    assert!(!page.body.contains("eve@other.test"), "another tenant's mail is not listed");
    let token = page.csrf();
    for path in ["/queue/other1/retry", "/queue/other1/delete"] {
        let page = admin.post(path, &[("csrf", &token), ("confirm", "yes")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(admin.get("/queue/other1/delete").await.status, StatusCode::NOT_FOUND);
    assert!(store.queue_get("other1").await.unwrap().is_some(), "untouched");

    let page = admin.post("/queue/acme1/retry", &[("csrf", &token)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let due = store.queue_get("acme1").await.unwrap().unwrap().recipients[0].next_attempt_at;
    assert!(due <= moat_store::unix_now(), "due now, not in an hour");
    let done = admin.get(page.location.as_deref().unwrap()).await;
    assert!(done.body.contains("1 recipient(s) due now"), "{}", done.body);

    let confirm = admin.get("/queue/acme1/delete").await;
    assert!(
        confirm.body.contains("never be delivered to") && confirm.body.contains("bob@acme.test"),
        "{}",
        confirm.body
    );
    let page = admin.post("/queue/acme1/delete", &[("csrf", &token)]).await;
    assert_eq!(page.location.as_deref(), Some("/queue/acme1/delete"), "no confirmation: nothing deleted");
    assert!(store.queue_get("acme1").await.unwrap().is_some());
    admin.post("/queue/acme1/delete", &[("csrf", &token), ("confirm", "yes")]).await;
    assert!(store.queue_get("acme1").await.unwrap().is_none());

    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    assert!(root.get("/queue").await.body.contains("eve@other.test"), "the platform's operators see it all");
    let mut delegate = Browser::new(&world);
    delegate.sign_in("delegate", PASSWORD).await;
    assert!(delegate.get("/queue").await.body.contains("The queue is empty."), "acme.test's mail is gone");
}

/// First run: with no account, the sign-in page says how to make one on the server (never offering to make
/// it here). The platform's operators are told which settings still have test-machine defaults; a tenant's
/// admins are not.
#[tokio::test]
async fn a_fresh_install_says_how_to_begin_and_what_is_left_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::None).await.unwrap();
    let directory = moat_directory::Directory::new(store.clone());
    let fresh = World { state: AppState::new(store.clone(), directory, common::bodies(&store)), _dir: dir };
    let page = Browser::new(&fresh).get("/login").await;
    assert!(page.body.contains("No account exists yet") && page.body.contains("moat admin add root"), "{}", page.body);
    assert!(!page.body.contains("name=\"new_admin\""), "no account is made from this page");

    let mut world = world().await;
    assert!(!Browser::new(&world).get("/login").await.body.contains("No account exists yet"), "accounts exist");
    world.state.publishing.gaps = vec![moat_console::SetupGap::MxHosts, moat_console::SetupGap::PublicUrl];
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let status = root.get("/").await;
    assert!(
        status.body.contains("Finish the set-up") && status.body.contains("mx_hosts is not set"),
        "{}",
        status.body
    );
    assert!(status.body.contains("public_url is not set") && !status.body.contains("ip_ranges is not set"));
    let mut tenant_admin = Browser::new(&world);
    tenant_admin.sign_in("acme-admin", PASSWORD).await;
    assert!(!tenant_admin.get("/").await.body.contains("Finish the set-up"), "the operator's business only");
}

/// The MSP overview: the platform's operators see every customer with its licenses, users, held mail and
/// queue, and drill down to its domains; a tenant's admin may not see it (403), nor any other customer's.
#[tokio::test]
async fn the_msp_overview_lists_every_customer_for_the_operators_only() {
    let world = world().await;
    let mut operator = Browser::new(&world);
    operator.sign_in("root", PASSWORD).await;
    for page in ["/domains", "/import", "/filtering"] {
        let body = operator.get(page).await.body;
        assert!(
            body.contains("<select name=\"tenant\">") && body.contains("<option value=\"acme\">acme</option>"),
            "{page}: the tenant is chosen from a list, not typed: {body}"
        );
    }
    common::hold_for_bob(&world.state.store, world.state.store.tenant_by_name("acme").await.unwrap().unwrap().id).await;
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let page = root.get("/tenants").await;
    assert_eq!(page.status, StatusCode::OK);
    let row = |name: &str| {
        let at = page.body.find(&format!(">{name}</a>")).unwrap_or_else(|| panic!("{name} listed: {}", page.body));
        page.body[at..at + page.body[at..].find("</tr>").unwrap()].to_owned()
    };
    let acme = row("acme");
    assert!(acme.contains("<td class=\"count\">2</td>"), "two domains: {acme}");
    assert!(acme.contains("<td class=\"count\">1</td>"), "one held message: {acme}");
    assert!(row("other").contains("<td class=\"count\">0</td>"), "nothing held for other");
    let detail = root.get("/tenants/acme").await;
    assert!(detail.body.contains("acme.test") && detail.body.contains("acme2.test"), "{}", detail.body);
    assert!(!detail.body.contains("other.test"));
    assert_eq!(root.get("/tenants/nobody").await.status, StatusCode::NOT_FOUND);

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    assert_eq!(admin.get("/tenants").await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.get("/tenants/other").await.status, StatusCode::FORBIDDEN);
    assert!(!admin.get("/").await.body.contains("href=\"/tenants\""), "not in a tenant admin's navigation");
}

/// API tokens in the console: made with a label (the value shown once, on the answer, not in the URL or a
/// later page), listed with their use, revoked after a confirmation; a token revoked no longer opens the API,
/// and another admin's token cannot be revoked (404).
#[tokio::test]
async fn admins_make_list_and_revoke_their_api_tokens() {
    let world = world().await;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/account/tokens").await;
    assert!(page.body.contains("You have no API tokens."), "{}", page.body);
    let token = page.csrf();
    let made = admin.post("/account/tokens", &[("csrf", &token), ("label", "billing script")]).await;
    assert_eq!(made.status, StatusCode::OK, "shown on the answer itself, no redirect");
    let at = made.body.find("<code>moat_").expect("the token is shown") + 6;
    let value = made.body[at..at + 69].to_owned();
    let again = admin.get("/account/tokens").await;
    assert!(again.body.contains("billing script") && !again.body.contains(&value), "listed, never shown again");

    let call = |token: String| {
        let state = world.state.clone();
        async move {
            let request = axum::http::Request::get("/api/v1/domains")
                .header("Authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            app(state).oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(call(value.clone()).await, StatusCode::OK, "the token opens the API");
    let admin_id = world.state.store.admin_by_name("acme-admin").await.unwrap().unwrap().id;
    let id = world.state.store.api_token_list(admin_id).await.unwrap()[0].id;
    assert!(admin.get("/account/tokens").await.body.contains(&format!("/account/tokens/{id}/revoke")));

    let mut other = Browser::new(&world);
    other.sign_in("root", PASSWORD).await;
    assert_eq!(other.get(&format!("/account/tokens/{id}/revoke")).await.status, StatusCode::NOT_FOUND);
    let other_token = other.get("/account/tokens").await.csrf();
    let refused =
        other.post(&format!("/account/tokens/{id}/revoke"), &[("csrf", &other_token), ("confirm", "yes")]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "not root's token");

    let confirm = admin.get(&format!("/account/tokens/{id}/revoke")).await;
    assert!(confirm.body.contains("billing script") && confirm.body.contains("cannot be undone"), "{}", confirm.body);
    let page = admin.post(&format!("/account/tokens/{id}/revoke"), &[("csrf", &token)]).await;
    assert_eq!(page.location, Some(format!("/account/tokens/{id}/revoke")), "no confirmation: nothing revoked");
    assert_eq!(call(value.clone()).await, StatusCode::OK);
    admin.post(&format!("/account/tokens/{id}/revoke"), &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(call(value).await, StatusCode::UNAUTHORIZED, "revoked");
    let blank = admin.post("/account/tokens", &[("csrf", &token), ("label", "   ")]).await;
    assert!(blank.body.contains("1 to 64 characters"), "{}", blank.body);
}

/// A held message opened from the quarantine: shown safely (sanitized HTML: no script, no image, no live
/// link — the targets listed as text; attachments by name and type), to its recipient and to admins who may
/// view emails; a domain admin without that permission, and another tenant's admin, may not open it.
#[tokio::test]
async fn a_held_message_is_previewed_safely_and_only_by_whom_may_see_it() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQuarantined};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let raw = "From: Bank <alerts@bank.test>\r\nTo: bob@acme.test\r\nSubject: Verify your account\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
               <p>Dear customer, <a href=\"https://evil.test/login\">verify here</a><img src=\"https://tracker.test/p.gif\">\
               <script>alert(1)</script></p>\r\n--b\r\nContent-Type: text/html\r\n\
               Content-Disposition: attachment; filename=\"login.html\"\r\n\r\n<form>x</form>\r\n--b--\r\n";
    let (body, size) = common::stored(store, raw.as_bytes()).await;
    let held = NewQuarantined {
        id: "phish1".into(),
        tenant: acme,
        sender: "alerts@bank.test".into(),
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        subject: Some("Verify your account".into()),
        score: 12.0,
        reason: "PHISH_PASSWORD_FORM".into(),
        received_at: 100,
        body: body.clone(),
        size,
        direction: moat_store::Direction::Inbound,
    };
    let log = NewLogEntry {
        recipients: "bob@acme.test".into(),
        tenant: Some(acme.0),
        body: Some(body),
        ..Default::default()
    };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap();

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    assert!(admin.get("/quarantine").await.body.contains("href=\"/quarantine/phish1\""), "the subject opens it");
    let page = admin.get("/quarantine/phish1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let shown = &page.body[page.body.find("id=\"preview\"").expect("the message is shown")..];
    let shown = &shown[..shown.find("</div>").unwrap()];
    assert!(shown.contains("Dear customer") && shown.contains("verify here"), "{shown}");
    for gone in ["<script", "<img", "tracker.test", "href"] {
        assert!(!shown.contains(gone), "{gone} in {shown}");
    }
    assert!(page.body.contains("<code>https://evil.test/login</code>"), "the link's target, as text");
    assert!(page.body.contains("login.html") && page.body.contains("text/html"), "the attachment by name and type");

    let mut plain = Browser::new(&world);
    plain.sign_in("plain-delegate", PASSWORD).await;
    assert_eq!(plain.get("/quarantine/phish1").await.status, StatusCode::FORBIDDEN, "no view-emails permission");
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let hash = moat_directory::hash_password(PASSWORD).unwrap();
    store.admin_add("other-admin", &hash, Role::Tenant(other), 0).await.unwrap();
    let mut outsider = Browser::new(&world);
    outsider.sign_in("other-admin", PASSWORD).await;
    assert_eq!(outsider.get("/quarantine/phish1").await.status, StatusCode::NOT_FOUND);
}

/// The status charts: the last 24 hours and 30 days of mail by verdict, drawn on the server as SVG, counted
/// for what the admin administers only, and without Moat's own notices.
#[tokio::test]
async fn status_charts_count_the_admins_own_mail_by_verdict() {
    use moat_store::NewLogEntry;
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    let now = moat_store::unix_now();
    let row = |tenant: moat_store::TenantId, verdict: &str, sender: &str, ip: &str| NewLogEntry {
        received_at: now,
        tenant: Some(tenant.0),
        verdict: verdict.into(),
        sender: sender.into(),
        client_ip: ip.into(),
        recipients: "bob@acme.test".into(),
        ..Default::default()
    };
    for entry in [
        row(acme, "clean", "a@x.test", "192.0.2.1"),
        row(acme, "clean", "b@x.test", "192.0.2.1"),
        row(acme, "rejected at RCPT: 550 5.1.1 user unknown", "c@x.test", "192.0.2.1"),
        row(acme, "accepted", "", "127.0.0.1"),
        row(other, "clean", "d@x.test", "192.0.2.1"),
    ] {
        store.log_add(&entry).await.unwrap();
    }
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/").await;
    let hourly = &page.body[page.body.find("id=\"chart-hourly\"").expect("the hourly chart")..];
    let hourly = &hourly[..hourly.find("</figure>").unwrap()];
    assert!(hourly.contains("<svg") && hourly.contains(": 2 clean</title>"), "{hourly}");
    assert!(hourly.contains(": 1 rejected</title>"), "a refusal at RCPT is a rejection: {hourly}");
    assert!(!hourly.contains("accepted"), "Moat's own notice is not mail the customer got: {hourly}");
    assert_eq!(hourly.matches("<rect").count(), 2, "two classes in one hour: {hourly}");
    assert!(page.body.contains("id=\"chart-daily\""));
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    assert!(root.get("/").await.body.contains(": 3 clean</title>"), "the operator counts every tenant's");
}

/// The navigation marks the section the admin is in (a domain's page is in Domains), and only that one.
#[tokio::test]
async fn the_navigation_marks_where_the_admin_is() {
    let world = world().await;
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    for (path, section) in
        [("/", "/"), ("/domains/acme.test", "/domains"), ("/queue", "/queue"), ("/account/tokens", "/account")]
    {
        let page = root.get(path).await;
        assert_eq!(page.body.matches("aria-current=\"page\"").count(), 1, "{path}: {}", page.body);
        assert!(page.body.contains(&format!("href=\"{section}\" aria-current=\"page\"")), "{path} is in {section}");
    }
}

/// A domain's settings are edited after creation by the directory's rules; a refused edit shows the reason
/// and changes nothing; a domain admin may not, another tenant's admin cannot even see the form.
#[tokio::test]
async fn a_domain_is_edited_by_its_tenants_admins_only() {
    let world = world().await;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let form = admin.get("/domains/acme.test/edit").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("mx.acme.test:25:10"), "today's hosts filled in: {}", form.body);
    let token = form.csrf();
    let edit = |contact: &'static str, max: &'static str, downstream: &'static str| {
        [("contact_email", contact), ("max_users", max), ("language", "es"), ("downstream", downstream)]
    };
    let mut fields = vec![("csrf", token.as_str())];
    fields.extend(edit("it@acme.test", "5", "mx2.acme.test:2525:20\nmx3.acme.test"));
    let page = admin.post("/domains/acme.test/edit", &fields).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let domain = world.state.store.domain_by_name("acme.test").await.unwrap().unwrap();
    assert_eq!(
        (domain.contact_email.as_deref(), domain.max_users, domain.language.as_str()),
        (Some("it@acme.test"), Some(5), "es")
    );
    let hosts = world.state.store.downstream_hosts(domain.id).await.unwrap();
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{}:{}:{}", h.host, h.port, h.priority)).collect();
    assert_eq!(hosts, ["mx3.acme.test:25:10", "mx2.acme.test:2525:20"]);

    for (refused, why) in [
        (edit("", "", ""), "needs at least one downstream host"),
        (edit("", "0", "mx.acme.test"), "has 1 users: its maximum cannot be 0"),
        (edit("", "many", "mx.acme.test"), "whole number"),
        (edit("not an address", "", "mx.acme.test"), "not an address"),
    ] {
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend(refused);
        let page = admin.post("/domains/acme.test/edit", &fields).await;
        assert!(page.status.is_client_error() && page.body.contains(why), "{why}: {}", page.body);
    }
    assert_eq!(
        world.state.store.domain_by_name("acme.test").await.unwrap().unwrap(),
        domain,
        "refusals change nothing"
    );

    let mut delegate = Browser::new(&world);
    delegate.sign_in("delegate", PASSWORD).await;
    assert_eq!(delegate.get("/domains/acme.test/edit").await.status, StatusCode::FORBIDDEN);
    assert!(!delegate.get("/domains/acme.test").await.body.contains("/edit"), "no edit link for a domain admin");
    assert_eq!(admin.get("/domains/other.test/edit").await.status, StatusCode::NOT_FOUND);
    let page = admin.post("/domains/other.test/edit", &[("csrf", &token), ("downstream", "mx.evil.test")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "another tenant's domain");
}

/// A user's page: name and language saved, a password reset (a generated one shown once, on the answer,
/// ending the user's sessions), deletion after a confirmation naming its aliases.
#[tokio::test]
async fn a_user_is_edited_reset_and_deleted_from_its_page() {
    let world = world().await;
    let mut bob = Browser::new(&world);
    bob.sign_in("bob@acme.test", PASSWORD).await;
    assert_eq!(bob.get("/quarantine").await.status, StatusCode::OK);
    let mut admin = Browser::new(&world);
    admin.sign_in("delegate", PASSWORD).await;
    let page = admin.get("/users/bob@acme.test").await;
    assert_eq!(page.status, StatusCode::OK);
    let token = page.csrf();
    let page = admin
        .post("/users/bob@acme.test", &[("csrf", &token), ("full_name", "Robert Smith"), ("language", "es")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let mailbox = world.state.directory.mailbox("bob@acme.test").await.unwrap();
    assert_eq!(mailbox.full_name.as_deref(), Some("Robert Smith"));
    assert_eq!(world.state.store.mailbox_credentials(mailbox.id).await.unwrap().1.as_deref(), Some("es"));
    let page = admin.post("/users/bob@acme.test", &[("csrf", &token), ("full_name", "Evil\u{7}Bell")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);

    let page = admin.post("/users/bob@acme.test/password", &[("csrf", &token), ("password", "")]).await;
    assert_eq!(page.status, StatusCode::OK);
    let at = page.body.find("<pre><code>").expect("the generated password, shown once") + 11;
    let generated = page.body[at..].split('<').next().unwrap().to_owned();
    assert!(page.set_cookies.is_empty() && page.location.is_none(), "not in a redirect");
    assert_eq!(bob.get("/quarantine").await.status, StatusCode::SEE_OTHER, "the user's session ended");
    assert_eq!(
        Browser::new(&world).sign_in("bob@acme.test", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "old password refused"
    );
    assert_eq!(Browser::new(&world).sign_in("bob@acme.test", &generated).await.status, StatusCode::SEE_OTHER);
    let page = admin.post("/users/bob@acme.test/password", &[("csrf", &token), ("password", "short")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);

    assert_eq!(admin.get("/users/bob@acme2.test").await.status, StatusCode::NOT_FOUND, "not the delegate's domain");
    assert_eq!(admin.get("/users/nobody@acme.test").await.status, StatusCode::NOT_FOUND);
    world.state.directory.add_alias("robert@acme.test", "bob@acme.test").await.unwrap();
    let confirm = admin.get("/users/bob@acme.test/delete").await;
    assert!(confirm.body.contains("robert@acme.test") && confirm.body.contains("cannot be undone"), "{}", confirm.body);
    let page = admin.post("/users/bob@acme.test/delete", &[("csrf", &token)]).await;
    assert_eq!(page.location.as_deref(), Some("/users/bob%40acme.test/delete"), "no confirmation: nothing deleted");
    assert!(world.state.directory.mailbox("bob@acme.test").await.is_ok());
    let confirm = admin.get("/users/alias/delete?address=robert@acme.test").await;
    assert!(confirm.body.contains("no longer reaches") && confirm.body.contains("bob@acme.test"), "{}", confirm.body);
    admin.post("/users/alias/delete", &[("csrf", &token), ("address", "robert@acme.test"), ("confirm", "yes")]).await;
    assert!(world.state.directory.resolve("robert@acme.test").await.is_err(), "alias deleted once confirmed");
    let page = admin.post("/users/bob@acme.test/delete", &[("csrf", &token), ("confirm", "yes")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(world.state.directory.mailbox("bob@acme.test").await.is_err());
}

/// Admins below the signed-in one: a tenant admin manages its domain admins (domains, permissions, email,
/// password, removal), the platform also the tenants' admins; nobody manages itself or anyone above here.
#[tokio::test]
async fn admins_edit_reset_and_remove_the_admins_below_them() {
    let world = world().await;
    let mut tenant = Browser::new(&world);
    tenant.sign_in("acme-admin", PASSWORD).await;
    let list = tenant.get("/admins").await;
    assert!(list.body.contains("/admins/delegate") && list.body.contains("/admins/plain-delegate"), "{}", list.body);
    assert!(!list.body.contains("/admins/root") && !list.body.contains("/admins/acme-admin"), "{}", list.body);
    for (path, status) in [
        ("/admins/root", StatusCode::NOT_FOUND),
        ("/admins/acme-admin", StatusCode::NOT_FOUND),
        ("/admins/delegate", StatusCode::OK),
    ] {
        assert_eq!(tenant.get(path).await.status, status, "{path}");
    }
    let token = list.csrf();
    let page = tenant
        .post(
            "/admins/delegate",
            &[
                ("csrf", &token),
                ("email", "d@acme.test"),
                ("domains", "acme.test"),
                ("domains", "acme2.test"),
                ("view_emails", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let delegate = world.state.store.admin_by_name("delegate").await.unwrap().unwrap();
    assert_eq!(world.state.store.admin_domains(delegate.id).await.unwrap().len(), 2);
    assert_eq!(delegate.delegation, Delegation { open_panels: false, view_emails: true, view_headers: false });
    assert_eq!(delegate.email.as_deref(), Some("d@acme.test"));
    let page = tenant.post("/admins/delegate", &[("csrf", &token), ("domains", "other.test")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "another tenant's domain cannot be given");
    let page = tenant.post("/admins/delegate", &[("csrf", &token)]).await;
    assert!(page.status == StatusCode::BAD_REQUEST && page.body.contains("at least one domain"), "{}", page.body);

    let mut signed_delegate = Browser::new(&world);
    signed_delegate.sign_in("delegate", PASSWORD).await;
    assert_eq!(signed_delegate.get("/admins/plain-delegate").await.status, StatusCode::FORBIDDEN);
    let page = tenant.post("/admins/delegate/password", &[("csrf", &token), ("password", "Another_pass2")]).await;
    assert!(page.status == StatusCode::OK && page.body.contains("Password reset."), "{}", page.body);
    assert_eq!(signed_delegate.get("/users").await.status, StatusCode::SEE_OTHER, "its sessions ended");
    assert_eq!(Browser::new(&world).sign_in("delegate", "Another_pass2").await.status, StatusCode::SEE_OTHER);

    let confirm = tenant.get("/admins/plain-delegate/delete").await;
    assert!(confirm.body.contains("can no longer sign in"), "{}", confirm.body);
    tenant.post("/admins/plain-delegate/delete", &[("csrf", &token)]).await;
    assert!(world.state.store.admin_by_name("plain-delegate").await.unwrap().is_some(), "not without confirmation");
    tenant.post("/admins/plain-delegate/delete", &[("csrf", &token), ("confirm", "yes")]).await;
    assert!(world.state.store.admin_by_name("plain-delegate").await.unwrap().is_none());

    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let list = root.get("/admins").await;
    assert!(list.body.contains("/admins/acme-admin") && !list.body.contains("/admins/root"), "{}", list.body);
    let token = list.csrf();
    let page = root.post("/admins/acme-admin", &[("csrf", &token), ("domains", "acme.test")]).await;
    assert!(page.body.contains("whole tenant"), "a tenant admin has no domain list: {}", page.body);
}

/// The quarantine is searched by text and by day, and ticked messages are acted on at once; each is checked
/// on its own (a message not the caller's is refused, the others done).
#[tokio::test]
async fn the_quarantine_is_searched_and_ticked_messages_deleted_at_once() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQuarantined};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let day = 1_795_046_400; // 2026-11-19 00:00 UTC
    for (id, subject, at, to) in [
        ("m1", "Cheap pills", day + 3600, "bob@acme.test"),
        ("m2", "Cheap watches", day - 3600, "bob@acme.test"),
        ("m3", "Invoice 42", day + 7200, "bob@acme.test"),
        ("m4", "Cheap loans", day + 60, "bob@acme2.test"),
    ] {
        let held = NewQuarantined {
            id: id.into(),
            tenant: acme,
            sender: "promo@spam.test".into(),
            recipients: vec![(to.into(), to.split('@').nth(1).unwrap().into())],
            subject: Some(subject.into()),
            score: 9.0,
            reason: "score 9.0".into(),
            received_at: at,
            body: common::stored(store, subject.as_bytes()).await.0,
            size: 1,
            direction: moat_store::Direction::Inbound,
        };
        let log = NewLogEntry { recipients: to.into(), tenant: Some(acme.0), ..Default::default() };
        store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap();
    }
    let mut delegate = Browser::new(&world);
    delegate.sign_in("delegate", PASSWORD).await;
    let listed = |page: &Page| {
        ["m1", "m2", "m3", "m4"]
            .into_iter()
            .filter(|id| page.body.contains(&format!("value=\"{id}\"")))
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(&delegate.get("/quarantine").await), ["m1", "m2", "m3"], "acme2.test is not the delegate's");
    assert_eq!(listed(&delegate.get("/quarantine?q=cheap").await), ["m1", "m2"]);
    assert_eq!(listed(&delegate.get("/quarantine?q=cheap&from=2026-11-19&to=2026-11-19").await), ["m1"]);
    assert_eq!(listed(&delegate.get("/quarantine?to=2026-11-18").await), ["m2"]);
    let page = delegate.get("/quarantine?from=2026-02-30").await;
    assert!(page.body.contains("is not a date") && listed(&page).is_empty(), "{}", page.body);

    let token = delegate.get("/quarantine").await.csrf();
    let form = [("csrf", token.as_str()), ("action", "delete"), ("ids", "m1"), ("ids", "m3"), ("ids", "m4")];
    let confirm = delegate.post("/quarantine/act", &form).await;
    assert_eq!(confirm.status, StatusCode::OK, "a deletion is confirmed first");
    assert!(
        confirm.body.contains("can never be released") && confirm.body.contains("<li>Cheap pills</li>"),
        "{}",
        confirm.body
    );
    assert!(
        confirm.body.contains("<li>Invoice 42</li>") && !confirm.body.contains("Cheap loans"),
        "not another's: {}",
        confirm.body
    );
    assert!(store.quarantine_get("m1").await.unwrap().unwrap().released_at.is_none(), "nothing deleted yet");
    let mut confirmed = form.to_vec();
    confirmed.push(("confirm", "yes"));
    let page = delegate.post("/quarantine/act", &confirmed).await;
    let banner = delegate.get(page.location.as_deref().unwrap()).await;
    assert!(banner.body.contains("Messages deleted: 2. Not done: not found"), "{}", banner.body);
    assert_eq!(listed(&banner), ["m2"]);
    assert!(store.quarantine_get("m4").await.unwrap().unwrap().released_at.is_none(), "another's message stays");
    let page = delegate.post("/quarantine/act", &[("csrf", &token), ("action", "delete")]).await;
    assert!(delegate.get(page.location.as_deref().unwrap()).await.body.contains("Select messages first."));
}

/// Alerts are shown to the tenant they concern (every one, with the tenant's name, to the platform's
/// operators), in words an admin reads.
#[tokio::test]
async fn alerts_are_shown_to_the_tenant_they_concern() {
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let other = store.tenant_by_name("other").await.unwrap().unwrap().id;
    store.alert_add(Some(acme), "plugin-tripped", "plugin bayes failed too often in a row", 100).await.unwrap();
    store.alert_add(Some(other), "smtp-auth-locked", "smtp-x@other.test locked after 5 failures", 200).await.unwrap();
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let page = admin.get("/alerts").await;
    assert!(page.body.contains("A filter keeps failing") && page.body.contains("plugin bayes failed"), "{}", page.body);
    assert!(!page.body.contains("smtp-x@other.test"), "another tenant's alert: {}", page.body);
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let page = root.get("/alerts").await;
    assert!(
        page.body.contains("smtp-x@other.test") && page.body.contains("<td data-label=\"Tenant\">other</td>"),
        "{}",
        page.body
    );
    let newest = page.body.find("smtp-x@other.test").unwrap();
    assert!(newest < page.body.find("plugin bayes").unwrap(), "newest first");
}

/// Admins reach every level of lists they keep from the navigation: the operator's (every tenant), a tenant's
/// own level, each domain's; entries go where the `lists` filter reads them.
#[tokio::test]
async fn admins_keep_the_tenant_and_global_lists() {
    let world = world().await;
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let index = root.get("/lists").await;
    for owner in ["owner=%2A", "owner=tenant%3Aacme", "owner=tenant%3Aother", "owner=acme.test"] {
        assert!(index.body.contains(owner), "{owner}: {}", index.body);
    }
    let token = index.csrf();
    root.post("/lists", &[("csrf", &token), ("owner", "*"), ("list", "deny"), ("value", "spammer.test")]).await;
    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let index = admin.get("/lists").await;
    assert!(!index.body.contains("owner=%2A") && !index.body.contains("tenant%3Aother"), "{}", index.body);
    let token = index.csrf();
    let page = admin
        .post("/lists", &[("csrf", &token), ("owner", "tenant:acme"), ("list", "allow"), ("value", "partner.test")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = admin.post("/lists", &[("csrf", &token), ("owner", "*"), ("list", "allow"), ("value", "x.test")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "only the platform keeps the global lists");
    let tenant = world.state.directory.list_entries("acme", Some(&moat_directory::ListScope::Tenant)).await.unwrap();
    assert_eq!(tenant.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["*|domain|partner.test"]);
    let global = world.state.directory.list_entries("*", None).await.unwrap();
    assert_eq!(global.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["*|domain|spammer.test"]);
    assert!(admin.get("/lists?owner=tenant:acme").await.body.contains("partner.test"));
}

/// The English words of the console's own texts that Spanish does not share: read from the translation
/// table (its English sides, less every word of its Spanish sides), and the words the store writes for
/// verdicts and delivery states. Any of them on a page shown to a Spanish speaker is a text left untranslated.
fn english_only_words() -> std::collections::HashSet<String> {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphabetic() && c != '\'').filter(|w| w.len() > 2).map(str::to_lowercase).collect()
    };
    let (mut english, mut spanish) = (std::collections::HashSet::new(), std::collections::HashSet::new());
    for (en, es) in moat_i18n::english_texts() {
        english.extend(words(en));
        spanish.extend(words(es));
    }
    for state in ["clean", "tagged", "quarantined", "rejected", "deferred", "delivered", "queued", "failed", "held"] {
        english.insert(state.into());
    }
    english.retain(|w| !spanish.contains(w));
    english
}

/// What a person sees of a page: its text and the labels, placeholders and titles of its controls — less
/// what is data, not the console's words: message text and headers (`pre`), records and names (`code`).
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        for data in ["pre", "code"] {
            if rest[open..].starts_with(&format!("<{data}")) {
                let end = rest[open..].find(&format!("</{data}>")).map_or(rest.len(), |e| open + e);
                rest = &rest[end..];
                break;
            }
        }
        let Some(open) = rest.find('<') else { break };
        out.push(' ');
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open..open + close];
        for attribute in ["placeholder=\"", "aria-label=\"", "title=\""] {
            if let Some(at) = tag.find(attribute) {
                let value = &tag[at + attribute.len()..];
                out.push_str(&value[..value.find('"').unwrap_or(value.len())]);
                out.push(' ');
            }
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.replace("&amp;", "&").replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">")
}

/// Every page, for every role, shown to Spanish speakers, with rows in every table: no English word of the
/// console's own is left on them (user data here is written without English words).
#[tokio::test]
async fn every_page_shown_to_a_spanish_speaker_is_in_spanish() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQuarantined, NewQueuedMessage};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    for name in ["root", "acme-admin", "delegate"] {
        let admin = store.admin_by_name(name).await.unwrap().unwrap();
        store.admin_set_language(admin.id, "es").await.unwrap();
    }
    let bob = world.state.directory.mailbox("bob@acme.test").await.unwrap();
    store.mailbox_set_language(bob.id, Some("es")).await.unwrap();
    world.state.directory.add_alias("roberto@acme.test", "bob@acme.test").await.unwrap();
    let now = moat_store::unix_now();
    let (body, size) = common::stored(store, b"Subject: Oferta\r\n\r\nHola\r\n").await;
    let held = NewQuarantined {
        id: "q-es".into(),
        tenant: acme,
        sender: "ventas@promo.test".into(),
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        subject: Some("Oferta".into()),
        score: 12.0,
        reason: "BAYES_SPAM".into(),
        received_at: now,
        body: body.clone(),
        size,
        direction: moat_store::Direction::Inbound,
    };
    let log = |verdict: &str, status: &str| NewLogEntry {
        received_at: now,
        client_ip: "192.0.2.9".into(),
        helo: "promo.test".into(),
        sender: "ventas@promo.test".into(),
        recipients: "bob@acme.test".into(),
        subject: Some("Oferta".into()),
        verdict: verdict.into(),
        delivery_status: status.into(),
        tenant: Some(acme.0),
        score: Some(1.0),
        symbols: Some("BAYES_HAM".into()),
        ..Default::default()
    };
    let queued = NewQueuedMessage {
        id: "queued-es".into(),
        body,
        sender: "ventas@promo.test".into(),
        size,
        received_at: now,
        expires_at: now + 86_400,
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        account: None,
    };
    let rows = [
        Accepted { log: log("quarantined", "held"), disposition: Disposition::Quarantine(held) },
        Accepted { log: log("clean", "queued"), disposition: Disposition::Queue(queued) },
        Accepted { log: log("rejected", "rejected"), disposition: Disposition::LogOnly },
        Accepted { log: log("tagged", "delivered"), disposition: Disposition::LogOnly },
    ];
    let ids = store.accept_batch(&rows, &[]).await.unwrap();
    store.alert_add(Some(acme), "plugin-tripped", "bayes", now).await.unwrap();
    store
        .chain_save(
            moat_store::Direction::Inbound,
            moat_store::ChainScope::Tenant(acme),
            Some("{\"entry\":[{\"plugin\":\"rules\"}]}"),
            "console:root",
            now,
        )
        .await
        .unwrap();

    let mut admin = Browser::new(&world);
    admin.sign_in("acme-admin", PASSWORD).await;
    let token = admin.get("/import").await.csrf();
    let boundary = "Frontera";
    let form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"domain\"\r\n\r\nacme.test\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"u.csv\"\r\n\r\nAna, ana\r\nMal, mal dir\r\n\
         --{boundary}--\r\n"
    );
    let request =
        Request::post("/import").header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"));
    let page = admin.send(request, Body::from(form)).await;
    let job = page.location.clone().unwrap_or_default();
    assert!(job.starts_with("/import/"), "{}: {}", page.status, page.body);
    let token = admin.get("/account/tokens").await.csrf();
    admin.post("/account/tokens", &[("csrf", &token), ("label", "guion")]).await;

    let log_id = ids[0];
    let every = [
        "/",
        "/tenants",
        "/tenants/acme",
        "/domains",
        "/domains/acme.test",
        "/domains/acme.test/edit",
        "/domains/acme.test/delete",
        "/domains/acme.test/directory",
        "/users",
        "/users/bob@acme.test",
        "/users/bob@acme.test/delete",
        "/users/alias/delete?address=roberto@acme.test",
        "/import",
        &job,
        "/admins",
        "/admins/delegate",
        "/admins/delegate/delete",
        "/filtering",
        "/filtering?direction=outbound",
        "/branding",
        "/quarantine",
        "/quarantine/q-es",
        "/log",
        &format!("/log/{log_id}"),
        "/queue",
        "/queue/queued-es/delete",
        "/alerts",
        "/lists",
        "/lists?owner=acme.test",
        "/lists?owner=tenant:acme",
        "/lists?owner=*",
        "/account",
        "/account/tokens",
        "/no-such-page",
        "/log/abc",
    ];
    let mut english = english_only_words();
    // Data: the tenants' names.
    for name in ["default", "other"] {
        english.remove(name);
    }
    let mut leaks = Vec::new();
    for (role, name) in ["root", "acme-admin", "delegate", "bob@acme.test"].iter().enumerate() {
        let mut browser = Browser::new(&world);
        browser.sign_in(name, PASSWORD).await;
        let mut pages: Vec<String> = every.iter().map(|p| p.to_string()).collect();
        if role == 0 {
            pages.push("/filtering?tenant=acme".into());
        }
        for path in &pages {
            let page = browser.get(path).await;
            if page.status.is_redirection() {
                continue;
            }
            assert!(
                page.body.contains("lang=\"es\"") || !page.body.contains("<html lang"),
                "{path} as {name}: not Spanish"
            );
            for word in visible_text(&page.body).split_whitespace() {
                let bare = word.trim_matches(|c: char| !c.is_alphabetic());
                if bare.chars().all(char::is_alphabetic) && english.contains(&bare.to_lowercase()) {
                    leaks.push(format!("{path} as {name}: {bare:?}"));
                }
            }
        }
    }
    let mut signed_out = Browser::new(&world);
    for path in ["/login?lang=es"] {
        for word in visible_text(&signed_out.get(path).await.body).split_whitespace() {
            let bare = word.trim_matches(|c: char| !c.is_alphabetic());
            if bare.chars().all(char::is_alphabetic) && english.contains(&bare.to_lowercase()) {
                leaks.push(format!("{path}: {bare:?}"));
            }
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "English on Spanish pages ({}):\n{}", leaks.len(), leaks.join("\n"));
}

/// The Filtering page says what each filter of the chain does and how to configure it, in the plugin's own
/// words (its `moat:about` section, stored when it was registered).
#[tokio::test]
async fn the_filtering_page_shows_each_filters_own_description() {
    let world = world().await;
    let store = &world.state.store;
    let plugin = moat_store::NewPlugin {
        owner: None,
        name: "watchlist",
        version: "1.0.0",
        sha256: "ab",
        wit_version: "0.2.0",
        bytes: b"\0asm",
        uploaded_by: "root",
        summary: Some("Scores mail from watched senders."),
        configuration_help: Some("watch: addresses to score"),
    };
    store.plugin_add(&plugin, 1).await.unwrap();
    let chain = r#"{"entry":[{"plugin":"watchlist","version":"1.0.0"},{"plugin":"quiet"}]}"#;
    store
        .chain_save(moat_store::Direction::Inbound, moat_store::ChainScope::Default, Some(chain), "root", 1)
        .await
        .unwrap();
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let page = root.get("/filtering").await;
    let about = &page.body[page.body.find("id=\"filter-about\"").expect("the filters' descriptions")..];
    assert!(about.contains("<dt>watchlist</dt><dd>Scores mail from watched senders.<details>"), "{about}");
    assert!(about.contains("<pre>watch: addresses to score</pre>"), "{about}");
    assert!(about.contains("<dt>quiet</dt><dd><span class=\"hint\">This filter does not describe itself."), "{about}");
}

/// The platform's operators make a customer with its license pool and first admin, change its pool and add
/// another admin from the Customers pages; a refusal shows the form again with the reason.
#[tokio::test]
async fn customers_are_made_and_their_pools_changed_in_the_console() {
    let world = world().await;
    let mut root = Browser::new(&world);
    root.sign_in("root", PASSWORD).await;
    let token = root.get("/tenants").await.csrf();
    let form = [
        ("csrf", token.as_str()),
        ("name", "beta"),
        ("licenses", "5"),
        ("admin_name", "beta-admin"),
        ("admin_password", "Beta_pass.2026"),
    ];
    let page = root.post("/tenants", &form).await;
    assert_eq!(page.location.as_deref().map(|l| l.starts_with("/tenants/beta?done=")), Some(true), "{}", page.body);
    let beta = world.state.store.tenant_by_name("beta").await.unwrap().unwrap();
    assert_eq!(world.state.store.tenant_licenses(beta.id).await.unwrap(), Some(5));
    assert_eq!(Browser::new(&world).sign_in("beta-admin", "Beta_pass.2026").await.status, StatusCode::SEE_OTHER);
    let page = root.post("/tenants", &[("csrf", &token), ("name", "bad name!")]).await;
    assert!(page.status == StatusCode::BAD_REQUEST && page.body.contains("tenant names hold"), "{}", page.body);
    let page = root.post("/tenants/beta/licenses", &[("csrf", &token), ("licenses", "")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(world.state.store.tenant_licenses(beta.id).await.unwrap(), None, "empty: unlimited");
    let page = root
        .post("/tenants/beta/admins", &[("csrf", &token), ("name", "beta-ops"), ("password", "Beta_pass.2027")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(root.get("/tenants/beta").await.body.contains("id=\"licenses\""));
    let mut tenant = Browser::new(&world);
    tenant.sign_in("acme-admin", PASSWORD).await;
    let token = tenant.get("/users").await.csrf();
    let page = tenant.post("/tenants/acme/licenses", &[("csrf", &token), ("licenses", "999")]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "a tenant never sets its own pool");
}
