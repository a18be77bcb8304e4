//! Retention: what the email log shows ages out — log rows, held messages, and the message store's bodies
//! nothing refers to any more (delivered copies past `message_copies`, bodies of purged rows, bodies written
//! for messages never accepted). Every node runs it; every delete is idempotent.

use crate::config::RetentionConfig;
use moat_bodies::Bodies;
use moat_store::Store;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

const EVERY: Duration = Duration::from_secs(3600);

/// Purges at start and every hour until `stop` turns true.
pub async fn run(store: Store, bodies: Bodies, config: RetentionConfig, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        purge(&store, &bodies, &config, SystemTime::now()).await;
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One pass, as of `now`. Failures are logged: the next pass tries again.
pub async fn purge(store: &Store, bodies: &Bodies, config: &RetentionConfig, now: SystemTime) {
    let before = |keep: Duration| {
        now.checked_sub(keep).unwrap_or(UNIX_EPOCH).duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64
    };
    let log = store.log_purge(before(config.log)).await;
    let quarantine = store.quarantine_purge(before(config.quarantine)).await;
    let now_secs = before(Duration::ZERO);
    let copies = moat_bodies::sweep(store, bodies.as_ref(), config.message_copies, now_secs).await;
    match (log, quarantine, copies) {
        (Ok(0), Ok(0), Ok(0)) => {}
        (Ok(log), Ok(held), Ok(copies)) => tracing::info!(log, held, copies, "retention removed aged-out records"),
        (log, quarantine, copies) => tracing::warn!(
            log = ?log.err(),
            quarantine = ?quarantine.err(),
            copies = ?copies.err(),
            "retention could not remove everything aged out"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_bodies::{BodyKey, put};
    use moat_store::{Accepted, Disposition, Durability, LogQuery, NewLogEntry, NewQuarantined};

    #[tokio::test]
    async fn a_pass_removes_only_what_aged_out() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let store = Store::open(&url, Durability::None).await.unwrap();
        let bodies: Bodies =
            std::sync::Arc::new(moat_bodies::Filesystem::open(dir.path().join("spool"), false).unwrap());
        let config = RetentionConfig { message_copies: Duration::from_secs(7200), ..RetentionConfig::default() };
        let now = SystemTime::now() + Duration::from_secs(3 * 3600);
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let mut keys = Vec::new();
        for name in ["old copy", "new copy", "held long ago", "held"] {
            keys.push(put(bodies.as_ref(), &[name.as_bytes()]).await.unwrap());
        }
        let logged = |at: SystemTime, subject: &str, body: Option<&BodyKey>| NewLogEntry {
            received_at: secs(at),
            subject: Some(subject.into()),
            verdict: "clean".into(),
            delivery_status: "delivered".into(),
            body: body.cloned(),
            ..Default::default()
        };
        let old = now - config.log - Duration::from_secs(60);
        let held = |id: &str, at: SystemTime, body: &BodyKey| NewQuarantined {
            id: id.into(),
            tenant: moat_store::DEFAULT_TENANT,
            sender: "a@b.test".into(),
            recipients: vec![],
            subject: None,
            score: 9.0,
            reason: "test".into(),
            received_at: secs(at),
            body: body.clone(),
            size: 1,
            direction: moat_store::Direction::Inbound,
        };
        let long_ago = now - config.quarantine - Duration::from_secs(60);
        let three_hours_ago = now - Duration::from_secs(3 * 3600);
        let batch = [
            Accepted { log: logged(old, "old", None), disposition: Disposition::LogOnly },
            Accepted { log: logged(now, "new", Some(&keys[1])), disposition: Disposition::LogOnly },
            Accepted {
                log: logged(three_hours_ago, "delivered earlier", Some(&keys[0])),
                disposition: Disposition::LogOnly,
            },
            Accepted {
                log: logged(now, "held long ago", None),
                disposition: Disposition::Quarantine(held("q-old", long_ago, &keys[2])),
            },
            Accepted {
                log: logged(now, "held", None),
                disposition: Disposition::Quarantine(held("q-new", now, &keys[3])),
            },
        ];
        store.accept_batch(&batch, &[]).await.unwrap();

        purge(&store, &bodies, &config, now).await;

        let rows = store.log_recent(&LogQuery { limit: 10, ..LogQuery::default() }).await.unwrap();
        let mut subjects: Vec<_> = rows.iter().filter_map(|r| r.subject.as_deref()).collect();
        subjects.sort();
        assert_eq!(subjects, ["delivered earlier", "held", "held long ago", "new"]);
        assert!(store.quarantine_get("q-old").await.unwrap().is_none());
        assert!(store.quarantine_get("q-new").await.unwrap().is_some());
        let kept = |i: usize| {
            let (bodies, key) = (bodies.clone(), keys[i].clone());
            async move { bodies.get(&key).await.unwrap().is_some() }
        };
        assert!(!kept(0).await, "the copy delivered 3 h ago is older than the 2 h kept");
        assert!(kept(1).await, "a copy within the 2 h stays");
        assert!(!kept(2).await, "the purged held message's body goes with it");
        assert!(kept(3).await, "a held message's body stays");
    }
}
