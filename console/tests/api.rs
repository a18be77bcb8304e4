//! The REST API through the router itself (`oneshot`): authentication, and every route for each role —
//! allowed, or refused as if the other tenant's data did not exist.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use moat_console::{AppState, app};
use moat_store::{DownstreamHost, Durability, NewDomain, Role, Store};
use tower::ServiceExt;

struct World {
    state: AppState,
    root: String,
    acme: String,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::None).await.unwrap();
    let acme = store.tenant_add("acme", 0).await.unwrap();
    let other = store.tenant_add("other", 0).await.unwrap();
    for (tenant, name) in [(acme, "acme.test"), (other, "other.test")] {
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
        store.mailbox_add(id, "bob", None, 0).await.unwrap();
    }
    store.tenant_set_licenses(acme, Some(10)).await.unwrap();
    let hash = moat_directory::hash_password("Secret_pass1").unwrap();
    let root = store.admin_add("root", &hash, Role::Platform, 0).await.unwrap();
    let acme_admin = store.admin_add("acme-admin", &hash, Role::Tenant(acme), 0).await.unwrap();
    let mut tokens = Vec::new();
    for admin in [root, acme_admin] {
        let (token, digest) = moat_directory::generate_token();
        store.api_token_add(admin, "test", &digest, 0).await.unwrap();
        tokens.push(token);
    }
    World { state: AppState { store }, root: tokens.remove(0), acme: tokens.remove(0), _dir: dir }
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
    assert_eq!(names(&body), ["acme.test", "other.test"]);
    let (_, body) = get(&world, "/api/v1/domains", Some(&world.acme)).await;
    assert_eq!(names(&body), ["acme.test"]);
    assert_eq!(body[0]["downstream"][0]["host"], "mx.acme.test");
    assert_eq!(body[0]["tenant"], "acme");

    let (status, _) = get(&world, "/api/v1/domains/other.test", Some(&world.acme)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's domain does not exist for a tenant admin");
    let (status, _) = get(&world, "/api/v1/domains/other.test", Some(&world.root)).await;
    assert_eq!(status, StatusCode::OK);

    let (_, root) = get(&world, "/api/v1/status", Some(&world.root)).await;
    let (_, acme) = get(&world, "/api/v1/status", Some(&world.acme)).await;
    assert_eq!(
        (root["tenants"].as_u64(), root["domains"].as_u64(), root["mailboxes"].as_u64()),
        (Some(3), Some(2), Some(2))
    );
    assert_eq!(
        (acme["tenants"].as_u64(), acme["domains"].as_u64(), acme["mailboxes"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(acme["licenses"], serde_json::json!({"pool": 10, "used": 1, "available": 9}));
    assert_eq!(root["licenses"]["used"], 2);
    assert_eq!(root["licenses"]["pool"], serde_json::Value::Null, "the default tenant has no limit");
}

#[tokio::test]
async fn the_openapi_document_lists_the_routes() {
    let world = world().await;
    let (status, body) = get(&world, "/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["openapi"], "3.0.3");
    for path in ["/api/v1/status", "/api/v1/domains", "/api/v1/domains/{name}"] {
        assert!(body["paths"][path]["get"].is_object(), "{path} missing");
    }
}
