//! The console as `moat serve` runs it: an account made with `moat admin add`, a token with
//! `moat token create`, the REST API over real HTTP on the console port.

use moat_tests::{Backend, Moat};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

moat_tests::on_each_backend!(accounts_and_tokens_open_the_rest_api);

async fn accounts_and_tokens_open_the_rest_api(backend: Backend) {
    let Some(moat) = Moat::builder(BIN, backend).start().await else {
        assert!(std::env::var_os("CI").is_none(), "CI must run the PostgreSQL tier (scripts/test sets it up)");
        return;
    };
    moat.admin(&["tenant", "add", "acme"]);
    moat.admin(&["domain", "add", "acme.test", "--downstream", "mx.acme.test", "--tenant", "acme"]);
    moat.admin(&["domain", "add", "example.com", "--downstream", "mx.example.com"]);

    let weak = moat.cli_with_input(&["admin", "add", "root", "--password-stdin"], "short\n");
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("passwords are 8 to 64 characters long"));
    let added = moat.cli_with_input(&["admin", "add", "root", "--password-stdin"], "Root_pass.2026\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added =
        moat.cli_with_input(&["admin", "add", "ops", "--password-stdin", "--tenant", "acme"], "Ops_pass.2026\n");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(moat.admin(&["admin", "list"]), "ops\ttenant acme\nroot\tplatform\n");

    let root = moat.admin(&["token", "create", "root"]).trim().to_owned();
    let ops = moat.admin(&["token", "create", "ops", "--label", "automation"]).trim().to_owned();
    assert!(root.starts_with("moat_") && root != ops);

    let (status, _) = moat.console_get("/api/v1/domains", None).await;
    assert_eq!(status, 401);
    let (status, body) = moat.console_get("/api/v1/domains", Some(&root)).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"acme.test\"") && body.contains("\"example.com\""), "{body}");
    let (_, body) = moat.console_get("/api/v1/domains", Some(&ops)).await;
    assert!(body.contains("\"acme.test\"") && !body.contains("example.com"), "{body}");
    let (status, _) = moat.console_get("/api/v1/domains/example.com", Some(&ops)).await;
    assert_eq!(status, 404);
    // Licensing: a pool of one for acme, used by its first mailbox.
    assert!(moat.admin(&["tenant", "licenses", "acme", "1"]).contains("Tenant acme: 0 license(s) in use of 1."));
    moat.admin(&["mailbox", "add", "ann@acme.test"]);
    let refused = moat.cli(&["mailbox", "add", "bob@acme.test"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("tenant acme has no license left (1 of 1 in use"));
    assert!(moat.admin(&["tenant", "list"]).contains("acme\tlicenses 1/1"));
    let (_, body) = moat.console_get("/api/v1/status", Some(&ops)).await;
    assert!(body.contains("\"licenses\":{\"pool\":1,\"used\":1,\"available\":0}"), "{body}");
    let (status, body) = moat.console_get("/api/openapi.json", None).await;
    assert!(status == 200 && body.contains("/api/v1/domains"), "{status} {body}");
}
