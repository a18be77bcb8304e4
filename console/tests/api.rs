//! The REST API through the router itself (`oneshot`): authentication, and every route for each role —
//! allowed, or refused as if the other tenant's data did not exist.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use moat_console::{AppState, app};
use moat_store::{DownstreamHost, Durability, NewDomain, Role, Store};
use serde_json::json;
use tower::ServiceExt;

struct World {
    state: AppState,
    root: String,
    acme: String,
    /// Domain admin of acme.test (not of acme2.test, also acme's).
    delegate: String,
    /// Tenant admin of other.
    other: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::None).await.unwrap();
    let acme = store.tenant_add("acme", 0).await.unwrap();
    let other = store.tenant_add("other", 0).await.unwrap();
    let mut ids = Vec::new();
    for (tenant, name) in [(acme, "acme.test"), (other, "other.test"), (acme, "acme2.test")] {
        let downstream = [DownstreamHost { host: format!("mx.{name}"), port: 25, priority: 10 }];
        let new = NewDomain {
            tenant_id: tenant,
            name,
            alias_of: None,
            contact_email: None,
            max_users: None,
            language: "en",
            downstream: &downstream,
        };
        let id = store.domain_add(&new, 0).await.unwrap();
        let bob = store.mailbox_add(id, "bob", None, 0).await.unwrap();
        store.alias_add(id, "info", bob, 0).await.unwrap();
        ids.push(id);
    }
    store.tenant_set_licenses(acme, Some(10)).await.unwrap();
    assert_eq!(common::hold_for_bob(&store, acme).await, 1, "log id 1");
    let hash = moat_directory::hash_password("Secret_pass1").unwrap();
    let root = store.admin_add("root", &hash, Role::Platform, 0).await.unwrap();
    let acme_admin = store.admin_add("acme-admin", &hash, Role::Tenant(acme), 0).await.unwrap();
    let delegate = store.admin_add("delegate", &hash, Role::Domain(acme), 0).await.unwrap();
    let delegation = moat_store::Delegation { open_panels: true, view_emails: false, view_headers: false };
    store.admin_delegate(delegate, &ids[..1], delegation).await.unwrap();
    let other_admin = store.admin_add("other-admin", &hash, Role::Tenant(other), 0).await.unwrap();
    let mut tokens = Vec::new();
    for admin in [root, acme_admin, delegate, other_admin] {
        let (token, digest) = moat_directory::generate_token();
        store.api_token_add(admin, "test", &digest, 0).await.unwrap();
        tokens.push(token);
    }
    let directory = moat_directory::Directory::new(store.clone());
    World {
        state: AppState::new(store.clone(), directory, common::bodies(&store)),
        root: tokens.remove(0),
        acme: tokens.remove(0),
        delegate: tokens.remove(0),
        other: tokens.remove(0),
        _dir: dir,
    }
}

async fn get(world: &World, path: &str, token: Option<&str>) -> (StatusCode, serde_json::Value) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = app(world.state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn every_route_needs_a_known_token() {
    let world = world().await;
    for path in ["/api/v1/status", "/api/v1/domains", "/api/v1/domains/acme.test"] {
        let (status, body) = get(&world, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(body["error"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
        let (status, _) = get(&world, path, Some("moat_0000")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} with an unknown token");
    }
    let response =
        app(world.state.clone()).oneshot(Request::get("/api/v1/status").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn each_role_sees_what_it_administers() {
    let world = world().await;
    let names = |body: &serde_json::Value| -> Vec<String> {
        body.as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect()
    };
    let (status, body) = get(&world, "/api/v1/domains", Some(&world.root)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), ["acme.test", "acme2.test", "other.test"]);
    let (_, body) = get(&world, "/api/v1/domains", Some(&world.acme)).await;
    assert_eq!(names(&body), ["acme.test", "acme2.test"]);
    assert_eq!(body[0]["downstream"][0]["host"], "mx.acme.test");
    let (_, body) = get(&world, "/api/v1/domains", Some(&world.delegate)).await;
    assert_eq!(names(&body), ["acme.test"], "a domain admin sees its delegated domains only");
    assert_eq!(body[0]["tenant"], "acme");

    let (status, _) = get(&world, "/api/v1/domains/other.test", Some(&world.acme)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's domain does not exist for a tenant admin");
    let (status, _) = get(&world, "/api/v1/domains/other.test", Some(&world.root)).await;
    assert_eq!(status, StatusCode::OK);

    let (_, root) = get(&world, "/api/v1/status", Some(&world.root)).await;
    let (_, acme) = get(&world, "/api/v1/status", Some(&world.acme)).await;
    assert_eq!(
        (root["tenants"].as_u64(), root["domains"].as_u64(), root["mailboxes"].as_u64()),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(
        (acme["tenants"].as_u64(), acme["domains"].as_u64(), acme["mailboxes"].as_u64()),
        (Some(1), Some(2), Some(2))
    );
    assert_eq!(acme["licenses"], serde_json::json!({"pool": 10, "used": 2, "available": 8}));
    assert_eq!(root["licenses"]["used"], 3);
    assert_eq!(root["queue"]["messages"], 0);
    assert_eq!(root["licenses"]["pool"], serde_json::Value::Null, "the default tenant has no limit");
}

/// The OpenAPI document is generated from the route table: it is valid (checked by `openapi-spec-validator`,
/// which `scripts/setup` installs), lists every route with its parameters, and describes request and
/// response bodies with schemas.
#[tokio::test]
async fn the_openapi_document_is_valid_and_describes_every_route() {
    let world = world().await;
    let (status, body) = get(&world, "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["openapi"].as_str().unwrap().starts_with("3.1"), "{}", body["openapi"]);
    assert_eq!(body["servers"][0]["url"], "/api/v1");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&body).unwrap()).unwrap();
    let checked = std::process::Command::new("openapi-spec-validator")
        .arg(file.path())
        .output()
        .expect("openapi-spec-validator (PyPI; scripts/setup installs it)");
    assert!(
        checked.status.success(),
        "invalid OpenAPI document: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    for (path, method) in [
        ("/status", "get"),
        ("/nodes", "get"),
        ("/queue", "get"),
        ("/tenants", "get"),
        ("/tokens", "post"),
        ("/tokens/{id}", "delete"),
        ("/queue/{id}", "delete"),
        ("/queue/{id}/retry", "post"),
        ("/domains", "post"),
        ("/domains/{name}", "put"),
        ("/domains/{name}/dkim/{selector}", "delete"),
        ("/users", "get"),
        ("/users/{address}", "put"),
        ("/users/{address}/password", "post"),
        ("/admins/{name}", "delete"),
        ("/users/export.csv", "get"),
        ("/imports/{id}", "get"),
        ("/ldap", "put"),
        ("/log/{id}/list", "post"),
        ("/quarantine/{id}/release", "post"),
    ] {
        let operation = &body["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} missing");
        for status in ["401", "403", "404"] {
            assert!(operation["responses"][status].is_object(), "{method} {path}: no {status}");
        }
    }
    let create = &body["paths"]["/domains"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewDomain"
    );
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/DomainView"
    );
    let new_domain = &body["components"]["schemas"]["NewDomain"];
    assert!(
        new_domain["properties"]["downstream"].is_object() && new_domain["required"] == json!(["name"]),
        "{new_domain}"
    );
    let users = &body["paths"]["/users"]["get"]["parameters"];
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["q", "domain", "limit", "offset"]);
    let params = &body["paths"]["/domains/{name}/dkim/{selector}"]["delete"]["parameters"];
    let names: Vec<&str> = params.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["name", "selector"]);
}

async fn send(
    world: &World,
    method: &str,
    path: &str,
    token: &str,
    json: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {token}"));
    if json.is_some() {
        request = request.header("Content-Type", "application/json");
    }
    let body = json.map_or_else(Body::empty, |j| Body::from(j.to_string()));
    let response = app(world.state.clone()).oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn domains_and_users_are_made_within_the_callers_scope() {
    let world = world().await;
    let (status, body) = send(
        &world,
        "POST",
        "/api/v1/domains",
        &world.acme,
        Some(
            json!({"name": "New.Acme.test", "downstream": ["mx.new.acme.test:25:10"], "contact_email": "it@acme.test"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!((body["name"].as_str(), body["tenant"].as_str()), (Some("new.acme.test"), Some("acme")));
    assert_eq!(body["downstream"][0]["priority"], 10);

    let in_other = json!({"name": "x.test", "tenant": "other", "downstream": ["mx.x.test"]});
    assert_eq!(
        send(&world, "POST", "/api/v1/domains", &world.acme, Some(in_other.clone())).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&world, "POST", "/api/v1/domains", &world.root, Some(in_other)).await.0, StatusCode::CREATED);
    let alias_of_other = json!({"name": "y.test", "alias_of": "other.test"});
    assert_eq!(
        send(&world, "POST", "/api/v1/domains", &world.acme, Some(alias_of_other)).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = send(
        &world,
        "POST",
        "/api/v1/domains",
        &world.acme,
        Some(json!({"name": "z.test", "downstream": ["mx:port"]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("bad downstream host"), "{body}");
    let again = json!({"name": "acme.test", "downstream": ["mx.acme.test"]});
    assert_eq!(send(&world, "POST", "/api/v1/domains", &world.acme, Some(again)).await.0, StatusCode::CONFLICT);

    let ann =
        json!({"address": "ann@acme.test", "full_name": "Ann", "aliases": ["a1@acme.test", "sales@new.acme.test"]});
    let (status, body) = send(&world, "POST", "/api/v1/users", &world.acme, Some(ann)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let theirs = json!({"address": "eve@other.test"});
    assert_eq!(send(&world, "POST", "/api/v1/users", &world.acme, Some(theirs)).await.0, StatusCode::NOT_FOUND);

    // Licenses: acme uses 3 (two bobs, ann). With a pool of 4, a user whose sixth alias needs a second
    // license is refused whole.
    world.state.store.tenant_set_licenses(moat_store::TenantId(2), Some(4)).await.unwrap();
    let aliases: Vec<String> = (1..=6).map(|i| format!("c{i}@acme.test")).collect();
    let carol = json!({"address": "carol@acme.test", "aliases": aliases});
    let (status, body) = send(&world, "POST", "/api/v1/users", &world.acme, Some(carol)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("tenant acme has no license left"), "{body}");
    let (_, status_body) = get(&world, "/api/v1/status", Some(&world.acme)).await;
    assert_eq!(status_body["licenses"]["used"], 3, "nothing of carol was kept");

    assert_eq!(
        send(&world, "DELETE", "/api/v1/users/bob@other.test", &world.acme, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&world, "DELETE", "/api/v1/users/ann@acme.test", &world.acme, None).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, status_body) = get(&world, "/api/v1/status", Some(&world.acme)).await;
    assert_eq!(status_body["licenses"]["used"], 2);

    let bad_name = json!({"name": "a b", "password": "Secret_pass9", "domains": ["acme.test"]});
    let (status, body) = send(&world, "POST", "/api/v1/domain-admins", &world.acme, Some(bad_name)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("account names hold"), "{body}");
    let weak = json!({"name": "ops2", "password": "short", "domains": ["acme.test"]});
    assert_eq!(send(&world, "POST", "/api/v1/domain-admins", &world.acme, Some(weak)).await.0, StatusCode::BAD_REQUEST);
}

/// Every API route, as each role: allowed, forbidden for the role (403), or another's object (404).
#[tokio::test]
async fn every_route_for_every_role() {
    use StatusCode as S;
    const OK: S = S::OK;
    const MADE: S = S::CREATED;
    const GONE: S = S::NO_CONTENT;
    const NO: S = S::FORBIDDEN;
    const NONE: S = S::NOT_FOUND;
    const OFF: S = S::SERVICE_UNAVAILABLE;
    const BAD: S = S::BAD_REQUEST;
    let import = json!({"file_name": "u.csv", "content": "Ann, ann@acme.test\n"});
    // (method, path, body, [platform, tenant acme, domain admin of acme.test, tenant other])
    let cases: Vec<(&str, &str, Option<serde_json::Value>, [S; 4])> = vec![
        ("GET", "/api/v1/status", None, [OK, OK, OK, OK]),
        ("GET", "/api/v1/alerts", None, [OK, OK, NO, OK]),
        ("GET", "/api/v1/admins", None, [OK, OK, NO, OK]),
        ("GET", "/api/v1/users/bob@acme.test", None, [OK, OK, OK, NONE]),
        ("PUT", "/api/v1/users/bob@acme2.test", Some(json!({"full_name": "B"})), [OK, OK, NONE, NONE]),
        ("GET", "/api/v1/domains", None, [OK, OK, OK, OK]),
        ("GET", "/api/v1/domains/acme.test", None, [OK, OK, OK, NONE]),
        ("GET", "/api/v1/domains/acme2.test", None, [OK, OK, NONE, NONE]),
        ("DELETE", "/api/v1/domains/acme.test", None, [GONE, GONE, NO, NONE]),
        ("GET", "/api/v1/domains/acme.test/configuration", None, [OK, OK, OK, NONE]),
        ("POST", "/api/v1/domains/acme.test/test-smtp", None, [OFF, OFF, OFF, NONE]),
        ("GET", "/api/v1/mx/acme.test", None, [OFF, OFF, OFF, OFF]),
        // The directory signs users up on the tenant's licenses with a bind credential: tenant admins only.
        (
            "PUT",
            "/api/v1/ldap",
            Some(
                json!({"domain": "acme.test", "settings": {"url": "ldap://127.0.0.1:1", "base_dn": "dc=acme,dc=test"}}),
            ),
            [GONE, GONE, NO, NONE],
        ),
        ("GET", "/api/v1/ldap?domain=acme.test", None, [NONE, NONE, NO, NONE]),
        (
            "PUT",
            "/api/v1/ldap",
            Some(json!({"settings": {"url": "http://x", "base_dn": "dc=acme,dc=test"}})),
            [BAD, BAD, NO, BAD],
        ),
        ("POST", "/api/v1/domains/acme.test/ldap/check", Some(json!({})), [BAD, BAD, NO, NONE]),
        ("POST", "/api/v1/domains/acme.test/ldap/sync", None, [BAD, BAD, NO, NONE]),
        // Sign-up spends the tenant's licenses: a domain admin may not turn it on.
        ("PUT", "/api/v1/domains/acme.test/signup", Some(json!({"mode": "manual"})), [OK, OK, NO, NONE]),
        ("PUT", "/api/v1/domains/acme2.test/signup", Some(json!({"mode": "manual"})), [OK, OK, NO, NONE]),
        // The console alone cannot ask the domain's server, so the check fails in its own words.
        (
            "PUT",
            "/api/v1/domains/acme.test/signup",
            Some(json!({"mode": "smtp", "check": "bob@acme.test"})),
            [BAD, BAD, NO, NONE],
        ),
        // A primary domain without downstream hosts is refused everywhere (the directory's rule, not the CLI's).
        ("POST", "/api/v1/domains", Some(json!({"name": "n.test"})), [BAD, BAD, NO, BAD]),
        (
            "POST",
            "/api/v1/domains",
            Some(json!({"name": "n.test", "downstream": ["mx.n.test"]})),
            [MADE, MADE, NO, MADE],
        ),
        (
            "POST",
            "/api/v1/domain-admins",
            Some(json!({"name": "d2", "password": "Secret_pass2", "domains": ["acme.test"]})),
            [MADE, MADE, NO, NONE],
        ),
        ("GET", "/api/v1/users?domain=acme.test", None, [OK, OK, OK, NONE]),
        ("GET", "/api/v1/users?domain=acme2.test", None, [OK, OK, NONE, NONE]),
        ("GET", "/api/v1/users/export.csv", None, [OK, OK, OK, OK]),
        ("POST", "/api/v1/users", Some(json!({"address": "new@acme.test"})), [MADE, MADE, MADE, NONE]),
        ("POST", "/api/v1/users", Some(json!({"address": "new@acme2.test"})), [MADE, MADE, NONE, NONE]),
        ("DELETE", "/api/v1/users/bob@acme.test", None, [GONE, GONE, GONE, NONE]),
        ("DELETE", "/api/v1/users/bob@acme2.test", None, [GONE, GONE, NONE, NONE]),
        (
            "POST",
            "/api/v1/aliases",
            Some(json!({"address": "b2@acme.test", "mailbox": "bob@acme.test"})),
            [MADE, MADE, MADE, NONE],
        ),
        ("DELETE", "/api/v1/aliases/info@acme.test", None, [GONE, GONE, GONE, NONE]),
        ("DELETE", "/api/v1/aliases/info@acme2.test", None, [GONE, GONE, NONE, NONE]),
        ("POST", "/api/v1/imports", Some(import), [S::ACCEPTED, S::ACCEPTED, NO, S::ACCEPTED]),
        (
            "POST",
            "/api/v1/lists",
            Some(json!({"list": "deny", "value": "spam.test", "owner": "bob@acme.test"})),
            [MADE, MADE, MADE, NONE],
        ),
        (
            "POST",
            "/api/v1/lists",
            Some(json!({"list": "deny", "value": "spam.test", "owner": "acme2.test"})),
            [MADE, MADE, NONE, NONE],
        ),
        ("GET", "/api/v1/domains/acme.test/smtp-credentials", None, [OK, OK, OK, NONE]),
        ("GET", "/api/v1/domains/acme2.test/smtp-credentials", None, [OK, OK, NONE, NONE]),
        (
            "POST",
            "/api/v1/domains/acme.test/smtp-credentials",
            Some(json!({"label": "office"})),
            [MADE, MADE, MADE, NONE],
        ),
        (
            "POST",
            "/api/v1/domains/acme.test/smtp-credentials",
            Some(json!({"secret": "mine"})),
            [S::UNPROCESSABLE_ENTITY; 4],
        ),
        ("DELETE", "/api/v1/smtp-credentials/nobody@acme.test", None, [NONE, NONE, NONE, NONE]),
        ("GET", "/api/v1/log?direction=outbound", None, [OK, OK, OK, OK]),
        ("GET", "/api/v1/log?direction=sideways", None, [BAD, BAD, BAD, BAD]),
        ("GET", "/api/v1/log", None, [OK, OK, OK, OK]),
        ("GET", "/api/v1/log?q=watches&verdict=quarantined&limit=5", None, [OK, OK, OK, OK]),
        ("GET", "/api/v1/log/1", None, [OK, OK, OK, NONE]),
        ("GET", "/api/v1/log/2", None, [NONE, NONE, NONE, NONE]),
        // The console alone has no gateway whose filters could learn.
        ("POST", "/api/v1/log/1/classify", Some(json!({"classification": "spam"})), [OFF, OFF, OFF, NONE]),
        ("POST", "/api/v1/log/1/classify", Some(json!({"classification": "maybe"})), [BAD, BAD, BAD, BAD]),
        ("POST", "/api/v1/log/1/list", Some(json!({"list": "deny", "party": "ip"})), [MADE, MADE, MADE, NONE]),
        ("POST", "/api/v1/log/1/list", Some(json!({"list": "allow", "party": "sender"})), [MADE, MADE, MADE, NONE]),
    ];
    for (method, path, body, expected) in cases {
        for (role, want) in expected.iter().enumerate() {
            // A fresh world each time: a write as one role must not change what the next one sees.
            let world = world().await;
            let token = [&world.root, &world.acme, &world.delegate, &world.other][role];
            let (status, answer) = send(&world, method, path, token, body.clone()).await;
            assert_eq!(status, *want, "{method} {path} as role #{role}: {answer}");
        }
    }
}

#[tokio::test]
async fn exports_hold_only_the_callers_users_and_import_back() {
    let world = world().await;
    let response = app(world.state.clone())
        .oneshot(
            Request::get("/api/v1/users/export.csv")
                .header("Authorization", format!("Bearer {}", world.delegate))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(csv, "Full name,Email,Password,Aliases\n,bob@acme.test,,info@acme.test\n");
    let (lines, errors) =
        moat_directory::parse_import(csv.as_bytes(), None, moat_directory::Language::English).unwrap();
    assert!(errors.is_empty());
    assert_eq!(
        (lines[0].address.as_str(), lines[0].aliases.as_slice()),
        ("bob@acme.test", &["info@acme.test".to_owned()][..])
    );
    let (_, users) = get(&world, "/api/v1/users?q=BOB", Some(&world.root)).await;
    assert_eq!(users.as_array().unwrap().len(), 3, "search is case-insensitive: {users}");
}

/// The email log's rows and their contents follow the caller's scope and delegated permissions.
#[tokio::test]
async fn the_log_is_searched_within_the_callers_scope() {
    let world = world().await;
    let (_, rows) = get(&world, "/api/v1/log?q=WATCHES", Some(&world.acme)).await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!((rows[0]["id"].as_i64(), rows[0]["client_ip"].as_str()), (Some(1), Some("192.0.2.9")));
    let (_, rows) = get(&world, "/api/v1/log?verdict=clean", Some(&world.acme)).await;
    assert_eq!(rows, json!([]));
    let (_, rows) = get(&world, "/api/v1/log", Some(&world.other)).await;
    assert_eq!(rows, json!([]), "another tenant's log is empty");

    let (_, entry) = get(&world, "/api/v1/log/1", Some(&world.acme)).await;
    assert!(entry["headers"].as_str().unwrap().ends_with("Subject: Cheap watches"), "{entry}");
    assert_eq!(entry["text"].as_str().map(str::trim), Some("Buy now"));
    let (_, entry) = get(&world, "/api/v1/log/1", Some(&world.delegate)).await;
    assert!(entry.get("headers").is_none() && entry["subject"] == "Cheap watches", "no permission: {entry}");
}

/// Directory settings through the API: the password goes in, is sealed, and never comes back out.
#[tokio::test]
async fn directory_settings_keep_their_password_to_themselves() {
    let world = world().await;
    let settings = json!({"settings": {"server_type": "openldap", "url": "ldaps://dc.acme.test", "base_dn": "dc=acme,dc=test",
        "bind_dn": "cn=moat,dc=acme,dc=test", "bind_password": "Bind_secret.9"}});
    let (status, body) = send(&world, "PUT", "/api/v1/ldap", &world.acme, Some(settings)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, shown) = send(&world, "GET", "/api/v1/ldap", &world.acme, None).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["url"], "ldaps://dc.acme.test");
    assert_eq!(shown["user_filter"], "(objectClass=inetOrgPerson)", "the server type's defaults");
    assert!(!shown.to_string().contains("Bind_secret") && !shown.to_string().contains("sealed"), "{shown}");
    let stored = world.state.store.ldap_list().await.unwrap();
    assert!(stored[0].settings.contains("moat-sealed:") && !stored[0].settings.contains("Bind_secret"));
    let unknown = json!({"settings": {"url": "ldap://x", "base_dn": "dc=x", "colour": "blue"}});
    assert_eq!(
        send(&world, "PUT", "/api/v1/ldap", &world.acme, Some(unknown)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// Every error of the API is JSON: a body that is not JSON, an unknown route and a wrong method included (they
/// were plain text and an empty body).
#[tokio::test]
async fn every_api_error_is_json() {
    let world = world().await;
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/domains")
        .header(header::AUTHORIZATION, format!("Bearer {}", world.root))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let response = app(world.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).expect("a JSON body");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    let (status, body) = get(&world, "/api/v1/no-such-route", Some(&world.root)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not found")));
    let (status, body) = send(&world, "PATCH", "/api/v1/status", &world.root, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body["error"].is_string(), "{body}");
}

/// The queue over the API, route by role: a tenant's admin lists, reads, retries and deletes its own queued
/// mail; another tenant's admin gets "not found" for each, and none of it in its list; a domain admin sees
/// its domain's.
#[tokio::test]
async fn the_queue_routes_keep_to_the_callers_scope() {
    use moat_store::{Accepted, Disposition, NewLogEntry, NewQueuedMessage};
    let world = world().await;
    let store = &world.state.store;
    let acme = store.tenant_by_name("acme").await.unwrap().unwrap().id;
    let message = NewQueuedMessage {
        id: "q-acme".into(),
        body: moat_store::BodyKey::of(&[b"q-acme"]),
        sender: String::new(),
        size: 10,
        received_at: 100,
        expires_at: moat_store::unix_now() + 86_400,
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        account: None,
    };
    let log = NewLogEntry { recipients: "bob@acme.test".into(), tenant: Some(acme.0), ..Default::default() };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Queue(message) }], &[]).await.unwrap();

    for (token, sees) in [(&world.acme, true), (&world.delegate, true), (&world.root, true), (&world.other, false)] {
        let (status, listed) = get(&world, "/api/v1/queue", Some(token)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed.as_array().unwrap().iter().any(|m| m["id"] == "q-acme"), sees, "{listed}");
    }
    assert_eq!(get(&world, "/api/v1/queue/q-acme", Some(&world.other)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&world, "POST", "/api/v1/queue/q-acme/retry", &world.other, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&world, "DELETE", "/api/v1/queue/q-acme", &world.other, None).await.0, StatusCode::NOT_FOUND);

    let (status, one) = get(&world, "/api/v1/queue/q-acme", Some(&world.acme)).await;
    assert_eq!((status, one["recipients"][0]["address"].as_str()), (StatusCode::OK, Some("bob@acme.test")));
    let (status, retried) = send(&world, "POST", "/api/v1/queue/q-acme/retry", &world.acme, None).await;
    assert_eq!((status, retried["due_now"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(send(&world, "DELETE", "/api/v1/queue/q-acme", &world.acme, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(&world, "/api/v1/queue/q-acme", Some(&world.acme)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_customer_overview_is_for_the_platforms_operators() {
    let world = world().await;
    let (status, tenants) = get(&world, "/api/v1/tenants", Some(&world.root)).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = tenants.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"acme") && names.contains(&"other"), "{tenants}");
    for token in [&world.acme, &world.delegate, &world.other] {
        assert_eq!(get(&world, "/api/v1/tenants", Some(token)).await.0, StatusCode::FORBIDDEN);
    }

    // A new customer with its pool and first admin; its pool changed; another admin; refusals.
    let new = json!({"name": "beta", "licenses": 3, "admin": {"name": "beta-admin", "password": "Beta_pass.2026"}});
    assert_eq!(send(&world, "POST", "/api/v1/tenants", &world.root, Some(new.clone())).await.0, StatusCode::CREATED);
    let beta = world.state.store.tenant_by_name("beta").await.unwrap().expect("made");
    assert_eq!(world.state.store.tenant_licenses(beta.id).await.unwrap(), Some(3));
    let admin = world.state.store.admin_by_name("beta-admin").await.unwrap().expect("its admin");
    assert_eq!(admin.role, moat_store::Role::Tenant(beta.id));
    let (status, body) = send(&world, "POST", "/api/v1/tenants", &world.root, Some(new)).await;
    assert!(status == StatusCode::BAD_REQUEST && body["error"].as_str().unwrap().contains("exists already"), "{body}");
    let bad = json!({"name": "no spaces please"});
    assert_eq!(send(&world, "POST", "/api/v1/tenants", &world.root, Some(bad)).await.0, StatusCode::BAD_REQUEST);
    let weak = json!({"name": "gamma", "admin": {"name": "gamma-admin", "password": "x"}});
    assert_eq!(send(&world, "POST", "/api/v1/tenants", &world.root, Some(weak)).await.0, StatusCode::BAD_REQUEST);
    assert!(world.state.store.tenant_by_name("gamma").await.unwrap().is_none(), "a refused admin leaves no tenant");
    let (status, pool) =
        send(&world, "PUT", "/api/v1/tenants/beta/licenses", &world.root, Some(json!({"licenses": null}))).await;
    assert_eq!((status, pool), (StatusCode::OK, json!({"licenses": null, "used": 0})));
    let (status, _) =
        send(&world, "PUT", "/api/v1/tenants/beta/licenses", &world.root, Some(json!({"licenses": -1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        send(&world, "PUT", "/api/v1/tenants/nobody/licenses", &world.root, Some(json!({"licenses": 1}))).await.0,
        StatusCode::NOT_FOUND
    );
    let more = json!({"name": "beta-ops", "password": "Beta_pass.2027", "email": "ops@beta.test"});
    assert_eq!(
        send(&world, "POST", "/api/v1/tenants/beta/admins", &world.root, Some(more.clone())).await.0,
        StatusCode::CREATED
    );
    for token in [&world.acme, &world.other] {
        assert_eq!(
            send(&world, "POST", "/api/v1/tenants/beta/admins", token, Some(more.clone())).await.0,
            StatusCode::FORBIDDEN
        );
        let pool = json!({"licenses": 1000});
        assert_eq!(
            send(&world, "PUT", "/api/v1/tenants/acme/licenses", token, Some(pool)).await.0,
            StatusCode::FORBIDDEN,
            "a tenant never sets its own pool"
        );
    }
}

/// Tokens over the API: each admin lists, makes and revokes only its own; a revoked token is refused.
#[tokio::test]
async fn api_tokens_are_each_admins_own() {
    let world = world().await;
    let (status, made) =
        send(&world, "POST", "/api/v1/tokens", &world.acme, Some(serde_json::json!({"label": "ci"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().unwrap().to_owned();
    let (_, listed) = get(&world, "/api/v1/tokens", Some(&token)).await;
    let ci = listed.as_array().unwrap().iter().find(|t| t["name"] == "ci").expect("listed").clone();
    assert!(ci.get("token").is_none() && ci.get("token_sha256").is_none(), "never the value: {ci}");
    let (_, others) = get(&world, "/api/v1/tokens", Some(&world.other)).await;
    assert!(others.as_array().unwrap().iter().all(|t| t["name"] != "ci"), "{others}");
    let path = format!("/api/v1/tokens/{}", ci["id"]);
    assert_eq!(send(&world, "DELETE", &path, &world.other, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&world, "DELETE", &path, &world.acme, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(get(&world, "/api/v1/tokens", Some(&token)).await.0, StatusCode::UNAUTHORIZED);
}

/// Domains, users and admins are edited through the API by the roles that edit them in the console, with the
/// same validation; what is not the caller's is "not found".
#[tokio::test]
async fn domains_users_and_admins_are_edited_within_the_callers_scope() {
    let world = world().await;
    let change = json!({ "contact_email": "it@acme.test", "max_users": 4, "language": "es",
                         "downstream": ["mx2.acme.test:2525:5"] });
    let (status, body) = send(&world, "PUT", "/api/v1/domains/acme.test", &world.acme, Some(change.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["max_users"].as_i64(), body["language"].as_str()), (Some(4), Some("es")));
    assert_eq!(body["downstream"], json!([{ "host": "mx2.acme.test", "port": 2525, "priority": 5 }]));
    let (status, body) =
        send(&world, "PUT", "/api/v1/domains/acme.test", &world.acme, Some(json!({ "downstream": [] }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("downstream host"), "{body}");
    for (token, status) in [(&world.delegate, StatusCode::FORBIDDEN), (&world.other, StatusCode::NOT_FOUND)] {
        let (got, _) = send(&world, "PUT", "/api/v1/domains/acme.test", token, Some(change.clone())).await;
        assert_eq!(got, status);
    }

    let (status, body) = send(
        &world,
        "PUT",
        "/api/v1/users/bob@acme.test",
        &world.delegate,
        Some(json!({ "full_name": "Bob Jones", "language": "es" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "address": "bob@acme.test", "full_name": "Bob Jones", "language": "es", "aliases": ["info@acme.test"] })
    );
    let (status, body) = send(&world, "POST", "/api/v1/users/bob@acme.test/password", &world.delegate, None).await;
    assert_eq!(status, StatusCode::OK);
    let generated = body["generated_password"].as_str().expect("a generated password, once");
    let mailbox = world.state.directory.mailbox("bob@acme.test").await.unwrap();
    let (hash, _) = world.state.store.mailbox_credentials(mailbox.id).await.unwrap();
    assert!(moat_directory::verify_password(generated, &hash.unwrap()));
    let (status, body) = send(
        &world,
        "POST",
        "/api/v1/users/bob@acme.test/password",
        &world.delegate,
        Some(json!({ "password": "Chosen_pass9" })),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})), "a chosen password is not echoed");
    for path in ["/api/v1/users/bob@acme2.test", "/api/v1/users/bob@other.test"] {
        assert_eq!(get(&world, path, Some(&world.delegate)).await.0, StatusCode::NOT_FOUND, "{path}");
    }

    let (status, body) = get(&world, "/api/v1/admins", Some(&world.acme)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect::<Vec<_>>(), ["delegate"]);
    let (_, body) = get(&world, "/api/v1/admins", Some(&world.root)).await;
    let names: Vec<&str> = body.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme-admin", "other-admin", "delegate"], "tenant admins first");
    let (status, body) = send(
        &world,
        "PUT",
        "/api/v1/admins/delegate",
        &world.acme,
        Some(json!({ "domains": ["acme.test", "acme2.test"], "view_headers": true })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["domains"].clone(), body["view_headers"].clone(), body["open_panels"].clone()),
        (json!(["acme.test", "acme2.test"]), json!(true), json!(false))
    );
    assert_eq!(get(&world, "/api/v1/admins/delegate", Some(&world.other)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&world, "/api/v1/admins/acme-admin", Some(&world.acme)).await.0,
        StatusCode::NOT_FOUND,
        "not itself"
    );
    assert_eq!(get(&world, "/api/v1/admins", Some(&world.delegate)).await.0, StatusCode::FORBIDDEN);
    let (status, body) = send(&world, "POST", "/api/v1/admins/delegate/password", &world.acme, None).await;
    assert!(status == StatusCode::OK && body["generated_password"].is_string(), "{body}");
    let (status, _) = get(&world, "/api/v1/domains", Some(&world.delegate)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a reset ends the admin's API tokens");
    assert_eq!(send(&world, "DELETE", "/api/v1/admins/delegate", &world.other, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(send(&world, "DELETE", "/api/v1/admins/delegate", &world.acme, None).await.0, StatusCode::NO_CONTENT);
    assert!(world.state.store.admin_by_name("delegate").await.unwrap().is_none());
}
