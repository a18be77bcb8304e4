use crate::{AdminId, MailboxId, Result, Store};
use sqlx::Row;

/// Who a console session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Admin(AdminId),
    /// An end user, signed in with a mailbox address.
    User(MailboxId),
}

/// A console session, found by the SHA-256 of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    /// The password is checked but the second factor is still to come.
    pub awaiting_totp: bool,
    pub expires_at: i64,
}

impl Store {
    pub async fn session_add(&self, id_sha256: &str, session: &Session, now: i64) -> Result<()> {
        let (admin, mailbox) = match session.principal {
            Principal::Admin(a) => (Some(a.0), None),
            Principal::User(m) => (None, Some(m.0)),
        };
        sqlx::query(
            "INSERT INTO sessions (id_sha256, admin_id, mailbox_id, csrf_token, awaiting_totp, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id_sha256)
        .bind(admin)
        .bind(mailbox)
        .bind(&session.csrf_token)
        .bind(i64::from(session.awaiting_totp))
        .bind(now)
        .bind(session.expires_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The live session with this cookie hash, if any.
    pub async fn session_get(&self, id_sha256: &str, now: i64) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT admin_id, mailbox_id, csrf_token, awaiting_totp, expires_at FROM sessions \
             WHERE id_sha256 = $1 AND expires_at > $2",
        )
        .bind(id_sha256)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            let principal = match (r.get::<Option<i64>, _>("admin_id"), r.get::<Option<i64>, _>("mailbox_id")) {
                (Some(a), _) => Principal::Admin(AdminId(a)),
                (None, Some(m)) => Principal::User(MailboxId(m)),
                (None, None) => return None,
            };
            Some(Session {
                principal,
                csrf_token: r.get("csrf_token"),
                awaiting_totp: r.get::<i64, _>("awaiting_totp") != 0,
                expires_at: r.get("expires_at"),
            })
        }))
    }

    /// The second factor was given: the session is complete.
    pub async fn session_confirm(&self, id_sha256: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET awaiting_totp = 0 WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(self.writer())
            .await?;
        Ok(())
    }

    pub async fn session_remove(&self, id_sha256: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_sha256).execute(self.writer()).await?;
        Ok(())
    }

    /// Ends every session of an account (after a password change, say).
    pub async fn sessions_remove_of(&self, principal: Principal) -> Result<()> {
        let (sql, id) = match principal {
            Principal::Admin(a) => ("DELETE FROM sessions WHERE admin_id = $1", a.0),
            Principal::User(m) => ("DELETE FROM sessions WHERE mailbox_id = $1", m.0),
        };
        sqlx::query(sql).bind(id).execute(self.writer()).await?;
        Ok(())
    }

    pub async fn sessions_purge(&self, now: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(self.writer()).await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;
    use crate::test_support::stores;

    #[tokio::test]
    async fn sessions_expire_and_end_with_their_account() {
        for (store, _dir) in stores().await {
            let admin = store.admin_add("root", "h", Role::Platform, 0).await.unwrap();
            let session = Session {
                principal: Principal::Admin(admin),
                csrf_token: "c".into(),
                awaiting_totp: true,
                expires_at: 100,
            };
            store.session_add("s1", &session, 0).await.unwrap();
            assert_eq!(store.session_get("s1", 50).await.unwrap(), Some(session.clone()));
            store.session_confirm("s1").await.unwrap();
            assert!(!store.session_get("s1", 50).await.unwrap().unwrap().awaiting_totp);
            assert_eq!(store.session_get("s1", 100).await.unwrap(), None, "expired");
            store.session_add("s2", &session, 0).await.unwrap();
            store.sessions_remove_of(Principal::Admin(admin)).await.unwrap();
            assert_eq!(store.session_get("s2", 50).await.unwrap(), None);
            store.session_add("s3", &session, 0).await.unwrap();
            assert_eq!(store.sessions_purge(100).await.unwrap(), 1, "s1 and s2 went with their account");
        }
    }
}
