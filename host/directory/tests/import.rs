//! User imports against a real store: the three formats, with and without a chosen domain, bad lines,
//! licenses running out mid-file, re-imports, and a 100,000-line file.

use moat_directory::{
    Directory, DomainSpec, ImportRequest, Language, Notice, Notification, Notifier, parse_downstream,
};
use moat_store::{Durability, ImportJob, ImportStatus, Store, TenantId};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Sent(Mutex<Vec<Notification>>);

impl Notifier for Sent {
    fn send(&self, notification: Notification) {
        self.0.lock().unwrap().push(notification);
    }
}

struct World {
    directory: Directory,
    sent: Arc<Sent>,
    acme: TenantId,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("moat.db").display());
    let store = Store::open(&url, Durability::None).await.unwrap();
    let acme = store.tenant_add("acme", 0).await.unwrap();
    let sent = Arc::new(Sent::default());
    let directory = Directory::new(store).with_notifier(sent.clone());
    for (name, alias_of) in [("acme.test", None), ("alias.test", Some("acme.test"))] {
        let spec = DomainSpec {
            tenant: Some("acme".into()),
            name: name.into(),
            alias_of: alias_of.map(Into::into),
            contact_email: Some("it@acme.test".into()),
            downstream: if alias_of.is_none() { vec![parse_downstream("mx.acme.test").unwrap()] } else { vec![] },
            ..DomainSpec::default()
        };
        directory.add_domain(&spec).await.unwrap();
    }
    World { directory, sent, acme, _dir: dir }
}

async fn import(world: &World, text: &str, domain: Option<&str>) -> ImportJob {
    let request = ImportRequest {
        tenant: world.acme,
        admin: None,
        file_name: "users.csv".into(),
        bytes: text.as_bytes().to_vec(),
        domain: domain.map(Into::into),
        report_to: Some("admin@acme.test".into()),
        language: Language::Spanish,
    };
    let id = world.directory.start_import(request).await.unwrap();
    loop {
        let job = world.directory.store().import_job_get(id).await.unwrap();
        if job.status != ImportStatus::Running {
            return job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn resolves(world: &World, address: &str) -> Option<String> {
    world.directory.resolve(address).await.ok().map(|r| r.mailbox_address)
}

#[tokio::test]
async fn the_three_formats_import_whole_lines_and_report_the_bad_ones() {
    let world = world().await;
    let file = "Full name,Email,Password\n\
                Ann Lee,ann@acme.test,Secret.123\n\
                Bob,bob@acme.test\n\
                Carol,carol@acme.test,Passw0rd.x,c.l@acme.test,carol@alias.test\n\
                Dan,dan@elsewhere.test\n\
                Eve,eve@acme.test,short\n\
                Fay,fay@acme.test,Passw0rd.y,ann@acme.test\n";
    let job = import(&world, file, None).await;
    assert_eq!(job.status, ImportStatus::Finished);
    assert_eq!((job.total, job.processed, job.imported(), job.unchanged), (6, 6, 3, 0));
    let errors: Vec<(usize, &str)> = job.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    // In the importer's language (Spanish here).
    assert!(errors[0].0 == 5 && errors[0].1.contains("elsewhere.test no es uno de los dominios de este cliente"));
    assert!(errors[1].0 == 6 && errors[1].1.contains("de 8 a 64 caracteres"), "{errors:?}");
    assert!(errors[2].0 == 7 && errors[2].1.contains("ann@acme.test ya pertenece a otro usuario"), "{errors:?}");
    assert_eq!(resolves(&world, "c.l@acme.test").await.as_deref(), Some("carol@acme.test"));
    assert_eq!(resolves(&world, "carol@alias.test").await.as_deref(), Some("carol@acme.test"));
    assert_eq!(resolves(&world, "fay@acme.test").await, None, "a bad line leaves nothing behind");

    // Passwords: Ann's own (argon2id), Bob's generated and told to the admin (in Spanish).
    let store = world.directory.store();
    let domain = store.domain_by_name("acme.test").await.unwrap().unwrap();
    let ann = store.mailbox_find(domain.id, "ann").await.unwrap().unwrap();
    let (hash, _) = store.mailbox_credentials(ann.id).await.unwrap();
    assert!(moat_directory::verify_password("Secret.123", &hash.unwrap()));
    let sent = world.sent.0.lock().unwrap().clone();
    let report = sent.iter().find(|n| matches!(n.notice, Notice::ImportFinished { .. })).expect("result emailed");
    assert_eq!((report.to.to_string().as_str(), report.language), ("admin@acme.test", Language::Spanish));
    let Notice::ImportFinished { generated, .. } = &report.notice else { unreachable!() };
    assert_eq!(generated.len(), 1, "only Bob had none: {generated:?}");
    let bob = store.mailbox_find(domain.id, "bob").await.unwrap().unwrap();
    let (hash, _) = store.mailbox_credentials(bob.id).await.unwrap();
    let bob_password = &generated.iter().find(|(a, _)| a == "bob@acme.test").unwrap().1;
    assert!(moat_directory::check_password(bob_password).is_ok());
    assert!(moat_directory::verify_password(bob_password, &hash.unwrap()));
    assert!(report.text().contains("línea 5"), "{}", report.text());

    // The same file again changes nothing; a new alias of an existing user is added.
    let again = import(&world, file, None).await;
    assert_eq!((again.imported(), again.unchanged, again.errors.len()), (0, 3, 3));
    let more = import(&world, "Ann Lee,ann@acme.test,Secret.123,al@acme.test\n", None).await;
    assert_eq!((more.imported(), more.unchanged), (1, 0));
    assert_eq!(resolves(&world, "al@acme.test").await.as_deref(), Some("ann@acme.test"));
}

#[tokio::test]
async fn new_users_get_the_welcome_message_when_their_domain_sends_it() {
    let world = world().await;
    let store = world.directory.store();
    let on = moat_store::Branding { send_welcome: Some(true), ..Default::default() };
    store.branding_set("acme.test", &on, 0).await.unwrap();
    let job = import(&world, "Ann Lee, ann\nBob, bob, Secret.123\n", Some("acme.test")).await;
    assert_eq!(job.imported(), 2);
    let sent = world.sent.0.lock().unwrap().clone();
    let welcomes: Vec<_> = sent.iter().filter(|n| matches!(n.notice, Notice::Welcome { .. })).collect();
    assert_eq!(welcomes.iter().map(|n| n.to.to_string()).collect::<Vec<_>>(), ["ann@acme.test", "bob@acme.test"]);
    let text = welcomes[0].text();
    let Notice::ImportFinished { generated, .. } = &sent.last().unwrap().notice else {
        panic!("the report comes last")
    };
    assert!(text.contains("Hello Ann Lee") && text.contains(&generated[0].1), "{text}");
    assert!(welcomes[1].text().contains("the one your administrator gave you"), "a chosen password is never mailed");
    // A re-import welcomes nobody again; a domain without the setting welcomes nobody.
    import(&world, "Ann Lee, ann\n", Some("acme.test")).await;
    let off = moat_store::Branding { send_welcome: Some(false), ..Default::default() };
    store.branding_set(moat_store::EVERY_DOMAIN, &off, 0).await.unwrap();
    store.branding_set("acme.test", &moat_store::Branding::default(), 0).await.unwrap();
    import(&world, "Cy, cy\n", Some("acme.test")).await;
    let count = world.sent.0.lock().unwrap().iter().filter(|n| matches!(n.notice, Notice::Welcome { .. })).count();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_chosen_domain_completes_addresses_and_a_mixed_file_is_refused_whole() {
    let world = world().await;
    let job = import(&world, "Ann, ann\nBob, bob, Secret.123, robert\n", Some("acme.test")).await;
    assert_eq!(job.imported(), 2);
    assert_eq!(resolves(&world, "robert@acme.test").await.as_deref(), Some("bob@acme.test"));

    let request = |text: &str, domain: Option<&str>| ImportRequest {
        tenant: world.acme,
        admin: None,
        file_name: "mixed.txt".into(),
        bytes: text.as_bytes().to_vec(),
        domain: domain.map(Into::into),
        report_to: None,
        language: Language::English,
    };
    let err = world.directory.start_import(request("Cy, cy\nDi, di@acme.test\n", Some("acme.test"))).await.unwrap_err();
    assert!(err.to_string().contains("line 2") && err.to_string().contains("leave the domain empty"), "{err}");
    let err = world.directory.start_import(request("Cy, cy@acme.test\nDi, di\n", None)).await.unwrap_err();
    assert!(err.to_string().contains("has no domain"), "{err}");
    assert_eq!(resolves(&world, "cy@acme.test").await, None);
    assert_eq!(world.directory.store().import_jobs(None, 10).await.unwrap().len(), 1, "refused files start no job");
}

#[tokio::test]
async fn licenses_running_out_mid_file_stop_the_lines_after_and_tell_the_contact() {
    let world = world().await;
    world.directory.store().tenant_set_licenses(world.acme, Some(3)).await.unwrap();
    let file = "A,a@acme.test\nB,b@acme.test\nC,c@acme.test,,c1@acme.test,c2@acme.test,c3@acme.test,c4@acme.test,\
                c5@acme.test,c6@acme.test\nD,d@acme.test\nE,e@acme.test\n";
    let job = import(&world, file, None).await;
    assert_eq!(job.imported(), 3, "A, B, D: C needs two licenses, E finds none left");
    let failed: Vec<usize> = job.errors.iter().map(|e| e.line).collect();
    assert_eq!(failed, [3, 5]);
    assert!(job.errors[0].reason.contains("no quedan licencias"), "{:?}", job.errors);
    assert_eq!(world.directory.license_usage(world.acme).await.unwrap().used, 3);
    let sent = world.sent.0.lock().unwrap().clone();
    let told: Vec<_> = sent.iter().filter(|n| matches!(n.notice, Notice::LicensesExhausted { .. })).collect();
    assert_eq!(told.len(), 1, "once per import");
    assert_eq!(told[0].to.to_string(), "it@acme.test");
}

#[tokio::test]
async fn a_file_of_100000_users_imports_in_one_job() {
    let world = world().await;
    let mut file = String::from("Full name,Email\n");
    for i in 0..100_000 {
        file.push_str(&format!("User {i},user{i}@acme.test\n"));
    }
    let started = std::time::Instant::now();
    let job = import(&world, &file, None).await;
    eprintln!("imported 100,000 users in {:.1?}", started.elapsed());
    assert_eq!((job.status, job.imported(), job.errors.len()), (ImportStatus::Finished, 100_000, 0));
    assert_eq!(world.directory.license_usage(world.acme).await.unwrap().used, 100_000);
    assert_eq!(resolves(&world, "user99999@acme.test").await.as_deref(), Some("user99999@acme.test"));
}

/// Refusals keep coming while the pool is full (a sign-up by SMTP per message to a new address): the
/// contact hears of it once an hour, not once a refusal.
#[tokio::test]
async fn an_exhausted_pool_is_told_once_however_often_it_refuses() {
    let world = world().await;
    world.directory.store().tenant_set_licenses(world.acme, Some(0)).await.unwrap();
    for user in ["a", "b", "c"] {
        let refused = world.directory.add_mailbox(&format!("{user}@acme.test"), None).await;
        assert!(refused.is_err());
    }
    let sent = world.sent.0.lock().unwrap().clone();
    assert_eq!(sent.iter().filter(|n| matches!(n.notice, Notice::LicensesExhausted { .. })).count(), 1);
}
