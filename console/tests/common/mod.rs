//! What both console test files build the same way.

use moat_store::{Accepted, BodyKey, Disposition, NewLogEntry, NewQuarantined, Store, TenantId};

/// The message store the tests' console reads: the database's own, the cluster's default.
pub fn bodies(store: &Store) -> moat_bodies::Bodies {
    std::sync::Arc::new(moat_bodies::Database::new(store.clone()))
}

/// Stores `bytes` as a message body: its key and size.
pub async fn stored(store: &Store, bytes: &[u8]) -> (BodyKey, u64) {
    (moat_bodies::put(bodies(store).as_ref(), &[bytes]).await.unwrap(), bytes.len() as u64)
}

/// Logs a message from promo@spam.test (client 192.0.2.9) to bob@acme.test and holds it in quarantine as
/// `q1`; returns its log id.
pub async fn hold_for_bob(store: &Store, tenant: TenantId) -> i64 {
    let bytes = b"From: promo@spam.test\r\nX-Secret-Header: yes\r\nSubject: Cheap watches\r\n\r\nBuy now\r\n";
    let (body, size) = stored(store, bytes).await;
    let held = NewQuarantined {
        id: "q1".into(),
        tenant,
        sender: "promo@spam.test".into(),
        recipients: vec![("bob@acme.test".into(), "acme.test".into())],
        subject: Some("Cheap watches".into()),
        score: 12.0,
        reason: "score 12.0".into(),
        received_at: 100,
        body: body.clone(),
        size,
        direction: moat_store::Direction::Inbound,
    };
    let log = NewLogEntry {
        received_at: 100,
        client_ip: "192.0.2.9".into(),
        helo: "spam.test".into(),
        sender: "promo@spam.test".into(),
        recipients: "bob@acme.test".into(),
        subject: Some("Cheap watches".into()),
        verdict: "quarantined".into(),
        delivery_status: "held".into(),
        tenant: Some(tenant.0),
        score: Some(12.0),
        body: Some(body),
        ..Default::default()
    };
    store.accept_batch(&[Accepted { log, disposition: Disposition::Quarantine(held) }], &[]).await.unwrap()[0]
}
