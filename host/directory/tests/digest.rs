//! Quarantine digests against a real store: each user who wants one gets the messages held for their
//! address and its aliases since the last digest, once, in their language; no mail when nothing was held.

use moat_directory::{Directory, DomainSpec, Notice, Notification, Notifier, parse_downstream};
use moat_store::{Accepted, Direction, Disposition, Durability, NewLogEntry, NewQuarantined, Store, TenantId};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Sent(Mutex<Vec<Notification>>);

impl Notifier for Sent {
    fn send(&self, notification: Notification) {
        self.0.lock().unwrap().push(notification);
    }
}

impl Sent {
    fn take(&self) -> Vec<Notification> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn hold(store: &Store, tenant: TenantId, id: &str, to: &str, at: i64) {
    hold_going(store, tenant, id, to, at, Direction::Inbound).await
}

async fn hold_going(store: &Store, tenant: TenantId, id: &str, to: &str, at: i64, direction: Direction) {
    let held = NewQuarantined {
        id: id.into(),
        tenant,
        sender: "deals@spam.test".into(),
        recipients: vec![(to.into(), "acme.test".into())],
        subject: Some(format!("offer {id}")),
        score: 11.0,
        reason: "score 11.0".into(),
        received_at: at,
        body: moat_store::BodyKey::of(&[b"Subject: offer\r\n\r\nx\r\n"]),
        size: 22,
        direction,
    };
    let log = NewLogEntry { verdict: "quarantined".into(), delivery_status: "held".into(), ..Default::default() };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap();
}

#[tokio::test]
async fn each_user_hears_once_of_what_was_held_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open(&format!("sqlite://{}", dir.path().join("m.db").display()), Durability::None).await.unwrap();
    let acme = store.tenant_add("acme", 0).await.unwrap();
    let sent = Arc::new(Sent::default());
    let directory =
        Directory::new(store.clone()).with_notifier(sent.clone()).with_console_url("https://console.acme.test/");
    let spec = DomainSpec {
        tenant: Some("acme".into()),
        name: "acme.test".into(),
        language: Some("es".into()),
        downstream: vec![parse_downstream("mx.acme.test").unwrap()],
        ..DomainSpec::default()
    };
    directory.add_domain(&spec).await.unwrap();
    for user in ["ann", "bob", "carol"] {
        directory.add_mailbox(&format!("{user}@acme.test"), None).await.unwrap();
    }
    directory.add_alias("info@acme.test", "ann@acme.test").await.unwrap();
    let bob = store.mailbox_find(store.domain_by_name("acme.test").await.unwrap().unwrap().id, "bob").await.unwrap();
    store.mailbox_set_digest(bob.unwrap().id, false).await.unwrap();

    let hour = Duration::from_secs(3600);
    let now = 1_800_000_000;
    hold(&store, acme, "a1", "ann@acme.test", now - 600).await;
    hold(&store, acme, "a2", "Info@Acme.test", now - 300).await;
    hold(&store, acme, "too-old", "ann@acme.test", now - 7200).await;
    hold(&store, acme, "b1", "bob@acme.test", now - 300).await;
    // Held outgoing mail (a colleague's, to carol) is for the admins, never in a user's digest.
    hold_going(&store, acme, "c1", "carol@acme.test", now - 300, Direction::Outbound).await;

    assert_eq!(directory.send_digests(now, hour).await.unwrap(), 1, "ann only: bob wants none, carol has none");
    let mail = sent.take();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to.to_string(), "ann@acme.test");
    assert_eq!(mail[0].subject(), "Moat: 2 mensaje(s) en cuarentena", "the domain's language");
    let text = mail[0].text();
    assert!(text.contains("offer a1") && text.contains("offer a2") && !text.contains("too-old"), "{text}");
    assert!(text.contains("https://console.acme.test/quarantine"), "{text}");
    let Notice::QuarantineDigest { items, .. } = &mail[0].notice else { panic!("{:?}", mail[0].notice) };
    assert_eq!(items[0].received, "2027-01-15 07:50 UTC");

    assert_eq!(directory.send_digests(now + 60, hour).await.unwrap(), 0, "not due again within the hour");
    hold(&store, acme, "a3", "ann@acme.test", now + 1800).await;
    assert_eq!(directory.send_digests(now + 3600, hour).await.unwrap(), 1);
    let text = sent.take()[0].text();
    assert!(text.contains("offer a3") && !text.contains("offer a1"), "only what is new: {text}");
}
