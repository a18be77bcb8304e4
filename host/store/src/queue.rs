use crate::batch::Batch;
use crate::sql;
use crate::{Backend, BodyKey, NewLogEntry, Result, Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

/// Where one recipient of a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientStatus {
    /// Waiting for its next attempt.
    Queued,
    /// Accepted by a downstream host.
    Delivered,
    /// Refused for good, or expired: a DSN goes to the sender.
    Failed,
}

impl RecipientStatus {
    fn as_str(self) -> &'static str {
        match self {
            RecipientStatus::Queued => "queued",
            RecipientStatus::Delivered => "delivered",
            RecipientStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "delivered" => RecipientStatus::Delivered,
            "failed" => RecipientStatus::Failed,
            _ => RecipientStatus::Queued,
        }
    }
}

/// The outcome of one delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub recipient_id: i64,
    pub status: RecipientStatus,
    /// When the next attempt is due (for [`RecipientStatus::Queued`]).
    pub next_attempt_at: i64,
    /// The downstream's reply, or why no host could be reached.
    pub reply: String,
    /// False when the recipient was not tried (its destination was busy): no attempt is counted.
    pub attempted: bool,
}

/// What the delivery workers can take on now: see [`Store::queue_claim_due`].
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub now: i64,
    /// The node claiming: claimed recipients are leased to it.
    pub owner: &'a str,
    /// Claimed recipients are not claimed again before this unless their owner settles or renews them first.
    pub lease_until: i64,
    /// Free delivery workers: at most this many messages.
    pub messages: usize,
    /// Messages being delivered right now: not claimed again.
    pub in_flight: &'a [String],
    /// Free delivery slots of the routes in use (0: full or resting); a route not listed has `free_per_route`.
    pub route_slots: &'a std::collections::HashMap<String, usize>,
    pub free_per_route: usize,
}

/// One delivery round to record: the message, and what became of the recipients it tried (or postponed).
/// See [`Store::queue_settle_rounds`].
#[derive(Debug, Clone, Copy)]
pub struct Round<'a> {
    pub message_id: &'a str,
    pub results: &'a [AttemptResult],
}

/// What became of a delivery round's record: see [`Store::queue_settle_rounds`].
#[derive(Debug, Clone)]
pub enum Settled {
    /// Recorded: the message as it now stands (gone from the queue unless deferred or awaiting its bounce).
    Recorded(QueuedMessage, DeliveryStatus),
    /// A round with nothing to record (a start finishing what a stop left) for a message no longer queued.
    Gone,
    /// Some recipient is no longer leased to the caller: another node took the work over; nothing written.
    LeaseLost,
}

/// Where a whole message stands, as the email log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Some recipient still waits for a retry.
    Deferred,
    Delivered,
    Bounced,
    PartiallyDelivered,
}

impl DeliveryStatus {
    pub fn of(recipients: &[QueuedRecipient]) -> Self {
        let count = |s| recipients.iter().filter(|r| r.status == s).count();
        match (count(RecipientStatus::Queued), count(RecipientStatus::Delivered), count(RecipientStatus::Failed)) {
            (q, _, _) if q > 0 => DeliveryStatus::Deferred,
            (_, _, 0) => DeliveryStatus::Delivered,
            (_, 0, _) => DeliveryStatus::Bounced,
            _ => DeliveryStatus::PartiallyDelivered,
        }
    }

    /// Whether some recipient failed for good and none waits: the sender gets a bounce.
    pub fn needs_bounce(self) -> bool {
        matches!(self, DeliveryStatus::Bounced | DeliveryStatus::PartiallyDelivered)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Deferred => "deferred",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Bounced => "bounced",
            DeliveryStatus::PartiallyDelivered => "partially delivered",
        }
    }
}

/// A message accepted over SMTP, as it goes into the queue.
#[derive(Debug, Clone)]
pub struct NewQueuedMessage {
    pub id: String,
    /// The message as delivered, in the message store.
    pub body: BodyKey,
    /// Envelope sender; empty for the null reverse-path `<>`.
    pub sender: String,
    pub size: u64,
    pub received_at: i64,
    pub expires_at: i64,
    /// (recipient address, route: the domain whose downstream hosts receive it).
    pub recipients: Vec<(String, String)>,
    /// The account that submitted it (outgoing mail), whose bounces count against it.
    pub account: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    pub id: i64,
    pub address: String,
    pub route: String,
    pub status: RecipientStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_reply: Option<String>,
    /// The node delivering it now (its lease may have expired: then nobody is).
    pub lease_owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    /// The message in the message store (None only before `moat serve` adopted an older install's spool).
    pub body: Option<BodyKey>,
    pub sender: String,
    pub size: u64,
    pub received_at: i64,
    pub expires_at: i64,
    pub log_id: Option<i64>,
    pub recipients: Vec<QueuedRecipient>,
    /// The account that submitted it (outgoing mail).
    pub account: Option<String>,
}

/// Totals for `moat queue list` and the queue-size gauge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStatus {
    pub messages: u64,
    pub recipients: u64,
}

/// A recipient some node may claim now: waiting, due, and leased to nobody (or its lease expired).
const CLAIMABLE: &str = "status = 'queued' AND next_attempt_at <= $1 AND (lease_owner IS NULL OR lease_until <= $1)";

/// The claim's first read: due (message, route) pairs, oldest first, `$2` at most, but none of `full_routes`
/// routes (`$3…`) nor of `in_flight` messages (after them). The index `queue_recipients_due` gives this order
/// and holds every column read, so a claim costs the same whatever the backlog.
fn claim_candidates_sql(full_routes: usize, in_flight: usize, backend: Backend) -> String {
    let mut sql = format!("SELECT message_id, route FROM queue_recipients WHERE {CLAIMABLE}");
    let mut next = 3;
    for (column, count) in [("route", full_routes), ("message_id", in_flight)] {
        if count > 0 {
            sql.push_str(&format!(" AND {column} NOT IN ({})", sql::placeholders(next, count)));
            next += count;
        }
    }
    // A window wider than the claim, so one route's backlog at the head leaves room for other routes.
    sql.push_str(" ORDER BY next_attempt_at, message_id LIMIT $2");
    sql.push_str(skip_locked(backend));
    sql
}

/// On PostgreSQL nodes claiming at once skip each other's locked rows instead of waiting for them; SQLite has
/// one writer.
fn skip_locked(backend: Backend) -> &'static str {
    if backend == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" }
}

/// A `queue_messages` row, without its recipients.
fn message_from_row(r: &AnyRow) -> QueuedMessage {
    QueuedMessage {
        id: r.get("id"),
        body: crate::bodies::key_column(r, "body"),
        sender: r.get("sender"),
        size: r.get::<i64, _>("size") as u64,
        received_at: r.get("received_at"),
        expires_at: r.get("expires_at"),
        log_id: r.get("log_id"),
        recipients: Vec::new(),
        account: r.get("account"),
    }
}

fn recipient_from_row(r: &AnyRow) -> QueuedRecipient {
    QueuedRecipient {
        id: r.get("id"),
        address: r.get("address"),
        route: r.get("route"),
        status: RecipientStatus::parse(r.get::<&str, _>("status")),
        attempts: r.get("attempts"),
        next_attempt_at: r.get("next_attempt_at"),
        last_reply: r.get("last_reply"),
        lease_owner: r.get("lease_owner"),
    }
}

/// What became of an accepted message for one group of recipients.
#[derive(Debug, Clone)]
pub enum Disposition {
    /// Spooled and queued for delivery.
    Queue(NewQueuedMessage),
    /// Held in quarantine (bytes in the store).
    Quarantine(crate::NewQuarantined),
    /// Only logged: rejected for these recipients while others accepted, or discarded.
    LogOnly,
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub log: NewLogEntry,
    pub disposition: Disposition,
}

impl Store {
    /// Records accepted messages, each with its log row and what became of it (queue rows, quarantine, or
    /// nothing more), all in one commit (one fsync however many: group commit). Returns the log row ids in
    /// order. Bodies to deliver must already be on disk (see the spool); `bodies` are the database message
    /// store's bodies of these messages, stored in the same commit (other message stores have them already; they
    /// pass none).
    ///
    /// `Ok` only once the commit has ended the transaction, which is what `250` promises. The statements begin
    /// and commit it themselves, not through sqlx's transaction, whose count a failed commit can leave wrong
    /// (sqlx #3742): after any error (a full disk) the connection is closed, which rolls back whatever it began,
    /// and the next commit gets a fresh one.
    pub async fn accept_batch(&self, batch: &[Accepted], bodies: &[(BodyKey, Vec<u8>)]) -> Result<Vec<i64>> {
        let mut conn = self.urgent_writer().await?;
        let result = Self::accept_in(&mut conn, self.backend(), batch, bodies).await;
        if result.is_err() {
            conn.close_on_drop();
        }
        result
    }

    /// Two round trips to the database, which every session of the group waits on: the begin with the log ids,
    /// then every row and the commit as one [`Batch`] (on SQLite a trip a statement was about ten in all).
    async fn accept_in(
        conn: &mut sqlx::AnyConnection,
        backend: Backend,
        batch: &[Accepted],
        bodies: &[(BodyKey, Vec<u8>)],
    ) -> Result<Vec<i64>> {
        let log_ids = Self::begin_taking_log_ids(conn, backend, batch.len()).await?;
        let mut statements = Batch::new(backend);
        Self::bodies_insert(&mut statements, bodies);
        let entries: Vec<&NewLogEntry> = batch.iter().map(|a| &a.log).collect();
        Self::logs_push(&mut statements, &log_ids, &entries);
        let mut queued = Vec::with_capacity(batch.len());
        for (accepted, &log_id) in batch.iter().zip(&log_ids) {
            match &accepted.disposition {
                Disposition::Queue(message) => queued.push((message, log_id)),
                Disposition::Quarantine(held) => Self::quarantine_push(&mut statements, held, log_id),
                Disposition::LogOnly => {}
            }
        }
        Self::queue_push(&mut statements, &queued);
        statements.push(|_| "COMMIT".to_owned());
        statements.execute(conn).await?;
        Ok(log_ids)
    }

    /// Queues a held message for `message.recipients`, which must all still be held; the message stays held
    /// for its other recipients, and counts as released once none is left.
    pub async fn quarantine_release(&self, id: &str, message: &NewQueuedMessage, now: i64) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = conn.begin().await?;
        let log_id = Self::quarantine_take_recipients(&mut tx, id, &message.recipients, now, false).await?;
        let mut statements = Batch::new(self.backend());
        Self::queue_push(&mut statements, &[(message, log_id.unwrap_or(0))]);
        statements.execute(&mut tx).await?;
        if let Some(log_id) = log_id {
            sqlx::query("UPDATE message_log SET delivery_status = 'queued (released)' WHERE id = $1")
                .bind(log_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds to `batch` the statements queueing `messages` (each with its log row's id) and their recipients: one
    /// for all the messages and one for all the recipients (by chunks of [`sql::ROWS_PER_INSERT`]), not one a
    /// row.
    fn queue_push(batch: &mut Batch, messages: &[(&NewQueuedMessage, i64)]) {
        for chunk in messages.chunks(sql::ROWS_PER_INSERT) {
            let mut values = batch.push(|first| {
                format!(
                    "INSERT INTO queue_messages (id, sender, size, received_at, expires_at, log_id, account, body) \
                     VALUES {}",
                    sql::value_rows(first, chunk.len(), 8)
                )
            });
            for (message, log_id) in chunk {
                values
                    .bind(&message.id)
                    .bind(&message.sender)
                    .bind(message.size as i64)
                    .bind(message.received_at)
                    .bind(message.expires_at)
                    .bind(*log_id)
                    .bind(&message.account)
                    .bind(message.body.as_str());
            }
        }
        let recipients: Vec<(&NewQueuedMessage, &(String, String))> =
            messages.iter().flat_map(|(m, _)| m.recipients.iter().map(move |r| (*m, r))).collect();
        for chunk in recipients.chunks(sql::ROWS_PER_INSERT) {
            let mut values = batch.push(|first| {
                format!(
                    "INSERT INTO queue_recipients (message_id, address, route, status, next_attempt_at, updated_at) \
                     VALUES {}",
                    sql::value_rows(first, chunk.len(), 6)
                )
            });
            for (message, (address, route)) in chunk {
                values
                    .bind(&message.id)
                    .bind(address)
                    .bind(route)
                    .bind(RecipientStatus::Queued.as_str())
                    .bind(message.received_at)
                    .bind(message.received_at);
            }
        }
    }

    /// Claims due mail the delivery workers can start now: up to `claim.messages` messages, and for each route
    /// no more (message, route) pairs than the route has free delivery slots. A route with no free slot, and a
    /// message already being delivered, are not looked at, so a busy destination's backlog neither blocks the
    /// others nor gets leased and postponed. Claimed recipients are leased to `claim.owner` until
    /// `claim.lease_until`: no node claims them again before that unless the owner settles them, and the owner
    /// renews the lease while it works ([`Store::queue_renew_leases`]); a node that dies leaves leases that
    /// expire, and the work goes to whichever node claims next (delivery is at-least-once). On PostgreSQL,
    /// nodes claiming at once skip each other's locked rows instead of waiting for them.
    pub async fn queue_claim_due(&self, claim: &ClaimRequest<'_>) -> Result<Vec<QueuedMessage>> {
        if claim.messages == 0 {
            return Ok(Vec::new());
        }
        let full: Vec<&str> =
            claim.route_slots.iter().filter(|(_, free)| **free == 0).map(|(route, _)| route.as_str()).collect();
        let sql = claim_candidates_sql(full.len(), claim.in_flight.len(), self.backend());
        let window = (claim.messages * 4).max(64) as i64;
        let mut conn = self.background_writer().await?;
        let mut tx = self.begin_bookkeeping(&mut conn).await?;
        // Only numbered placeholders are formatted in; every route and id is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(claim.now).bind(window);
        for value in full.iter().copied().chain(claim.in_flight.iter().map(String::as_str)) {
            query = query.bind(value);
        }
        let candidates = query.fetch_all(&mut *tx).await?;

        let mut slots_left = claim.route_slots.clone();
        let mut chosen: Vec<(String, Vec<String>)> = Vec::new();
        for row in &candidates {
            let (id, route): (String, String) = (row.get("message_id"), row.get("route"));
            let known = chosen.iter().position(|(m, _)| *m == id);
            if known.is_some_and(|i| chosen[i].1.contains(&route)) {
                continue;
            }
            let free = slots_left.entry(route.clone()).or_insert(claim.free_per_route);
            if *free == 0 || (known.is_none() && chosen.len() >= claim.messages) {
                continue;
            }
            *free -= 1;
            match known {
                Some(i) => chosen[i].1.push(route),
                None => chosen.push((id, vec![route])),
            }
        }

        if chosen.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = chosen.iter().map(|(id, _)| id.as_str()).collect();
        let mut messages = Self::queue_message_rows(&mut tx, &ids, false).await?;
        // Only numbered placeholders are formatted in; every id is bound.
        let sql = format!(
            "SELECT id, message_id, address, route, status, attempts, next_attempt_at, last_reply, lease_owner \
             FROM queue_recipients WHERE message_id IN ({}) AND {CLAIMABLE} ORDER BY id{}",
            sql::placeholders(2, ids.len()),
            skip_locked(self.backend())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(claim.now);
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let mut claimed = Vec::with_capacity(chosen.len());
        for (id, routes) in &chosen {
            let recipients: Vec<QueuedRecipient> = rows
                .iter()
                .filter(|r| r.get::<&str, _>("message_id") == id.as_str())
                .map(recipient_from_row)
                .filter(|r| routes.contains(&r.route))
                .collect();
            if let Some(mut message) = messages.remove(id.as_str())
                && !recipients.is_empty()
            {
                message.recipients = recipients;
                claimed.push(message);
            }
        }
        let leased = claimed.iter().flat_map(|m| m.recipients.iter().map(|r| r.id));
        let leased = sql::id_list(leased);
        if !leased.is_empty() {
            // Only ids (integers) are formatted in.
            // The next attempt moves to the lease's end too: rows being delivered leave the range every claim
            // scans (due, oldest first), and come back into it exactly when the lease expires.
            let lease = format!(
                "UPDATE queue_recipients SET lease_owner = $1, lease_until = $2, next_attempt_at = $2 WHERE id IN ({leased})"
            );
            sqlx::query(sqlx::AssertSqlSafe(lease))
                .persistent(false)
                .bind(claim.owner)
                .bind(claim.lease_until)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Renews `owner`'s leases on the messages it is delivering now (`messages`) until `until`: the heartbeat
    /// of work in progress. A lease its owner holds on anything else (a round whose settle failed) is left to
    /// expire, so another claim retries that work. Returns how many recipients.
    pub async fn queue_renew_leases(&self, owner: &str, messages: &[String], until: i64) -> Result<u64> {
        if messages.is_empty() {
            return Ok(0);
        }
        let list: Vec<String> = (3..messages.len() + 3).map(|n| format!("${n}")).collect();
        let sql = format!(
            "UPDATE queue_recipients SET lease_until = $2, next_attempt_at = $2 \
             WHERE lease_owner = $1 AND status = 'queued' AND message_id IN ({})",
            list.join(", ")
        );
        // Only numbered placeholders are formatted in; every id is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner).bind(until);
        for id in messages {
            query = query.bind(id);
        }
        Ok(query.execute(self.writer()).await?.rows_affected())
    }

    /// At a node's start: its own leases (work a crash or stop interrupted) are given up and due now, and so
    /// are expired leases of any node. Other nodes' live leases are theirs. Returns how many recipients.
    pub async fn queue_release_leases(&self, owner: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $2 \
             WHERE status = 'queued' AND (lease_owner = $1 OR lease_until <= $2)",
        )
        .bind(owner)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }

    /// Recipients being delivered now, by the node that leased them (live leases only).
    pub async fn queue_leases(&self, now: i64) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT lease_owner, COUNT(*) AS n FROM queue_recipients \
             WHERE status = 'queued' AND lease_owner IS NOT NULL AND lease_until > $1 GROUP BY lease_owner",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| (r.get("lease_owner"), r.get::<i64, _>("n") as u64)).collect())
    }

    async fn queue_message_row(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<QueuedMessage>> {
        let row = sqlx::query(
            "SELECT id, sender, size, received_at, expires_at, log_id, account, body FROM queue_messages WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.as_ref().map(message_from_row))
    }

    /// A queued message with all its recipients, whatever their status.
    pub async fn queue_get(&self, id: &str) -> Result<Option<QueuedMessage>> {
        let mut conn = self.pool().acquire().await?;
        Self::queue_message_with_recipients(&mut conn, id).await
    }

    async fn queue_message_with_recipients(conn: &mut sqlx::AnyConnection, id: &str) -> Result<Option<QueuedMessage>> {
        let Some(mut message) = Self::queue_message_row(conn, id).await? else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, address, route, status, attempts, next_attempt_at, last_reply, lease_owner FROM queue_recipients \
             WHERE message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        message.recipients = rows.iter().map(recipient_from_row).collect();
        Ok(Some(message))
    }

    /// Queued messages, oldest first, with their recipients, at most `limit`: every one, or one tenant's (by
    /// its log row) and, given, only some of its domains' — what a tenant's or a domain's admin may see.
    pub async fn queue_list(
        &self,
        tenant: Option<crate::TenantId>,
        domains: Option<&[crate::DomainId]>,
        limit: i64,
    ) -> Result<Vec<QueuedMessage>> {
        let mut sql = String::from("SELECT m.id FROM queue_messages m");
        Self::queue_scope(&mut sql, tenant, domains);
        sql.push_str(" ORDER BY m.received_at, m.id LIMIT $2");
        let ids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map_or(0, |t| t.0))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut messages = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(message) = self.queue_get(&id).await? {
                messages.push(message);
            }
        }
        Ok(messages)
    }

    /// Appends to a query over `queue_messages m` the condition that keeps one tenant's messages (`$1`, by
    /// their log rows) and, given, only some of its domains'; with no tenant, `$1 = 0` keeps every message.
    fn queue_scope(sql: &mut String, tenant: Option<crate::TenantId>, domains: Option<&[crate::DomainId]>) {
        if tenant.is_none() {
            sql.push_str(" WHERE $1 = 0");
            return;
        }
        sql.push_str(" JOIN message_log l ON l.id = m.log_id WHERE l.tenant_id = $1");
        if let Some(domains) = domains {
            let ids = sql::id_list(domains.iter().map(|d| d.0));
            let ids = if ids.is_empty() { "0".to_owned() } else { ids };
            // Only integer ids are formatted in.
            sql.push_str(&format!(" AND l.id IN (SELECT log_id FROM message_log_domains WHERE domain_id IN ({ids}))"));
        }
    }

    /// Makes a message's waiting recipients due now ("retry now"), unless a node is delivering them. Returns
    /// how many.
    pub async fn queue_retry(&self, id: &str, now: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE queue_recipients SET next_attempt_at = $2 \
             WHERE message_id = $1 AND status = 'queued' AND (lease_owner IS NULL OR lease_until <= $2)",
        )
        .bind(id)
        .bind(now)
        .execute(self.writer())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn queue_status(&self) -> Result<QueueStatus> {
        self.queue_status_of(None, None).await
    }

    /// What waits in the queue for one tenant (by its messages' log rows) and, given, only for some of its
    /// domains: what a tenant's or a domain's admin may see of the queue.
    pub async fn queue_status_of(
        &self,
        tenant: Option<crate::TenantId>,
        domains: Option<&[crate::DomainId]>,
    ) -> Result<QueueStatus> {
        let mut sql = String::from(
            "SELECT COUNT(DISTINCT r.message_id) AS messages, COUNT(*) AS recipients \
             FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id",
        );
        Self::queue_scope(&mut sql, tenant, domains);
        sql.push_str(" AND r.status = 'queued'");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.map_or(0, |t| t.0)).fetch_one(self.pool()).await?;
        Ok(QueueStatus {
            messages: row.get::<i64, _>("messages") as u64,
            recipients: row.get::<i64, _>("recipients") as u64,
        })
    }

    /// Records one delivery round: see [`Store::queue_settle_rounds`].
    pub async fn queue_settle(
        &self,
        message_id: &str,
        owner: &str,
        results: &[AttemptResult],
        now: i64,
    ) -> Result<Settled> {
        let mut settled = self.queue_settle_rounds(owner, &[Round { message_id, results }], now).await?;
        Ok(settled.pop().expect("one answer per round"))
    }

    /// Records delivery rounds of several messages in one commit, one answer per round in order: each
    /// recipient's new status, attempt count, next attempt, reply, the attempts for the message's tracking
    /// page, the message's delivery status and last reply in the log, and, when every recipient of a message
    /// is delivered, its removal from the queue. A finished message with failed recipients stays until
    /// [`Store::queue_replace`], so its bounce can be queued first. Rows are read, updated and deleted by
    /// lists: a group costs a fixed set of statements plus one update per distinct outcome and per distinct
    /// log status, not a set per message.
    ///
    /// Fenced: every recipient of a round's results must still be leased to `owner`. A node whose lease
    /// expired and was taken over (it froze, or the database was out of reach), or whose message was
    /// finished or deleted meanwhile, writes nothing for that round ([`Settled::LeaseLost`]): the round
    /// belongs to the node that holds the work now. The batch's other rounds are recorded.
    pub async fn queue_settle_rounds(&self, owner: &str, rounds: &[Round<'_>], now: i64) -> Result<Vec<Settled>> {
        if rounds.is_empty() {
            return Ok(Vec::new());
        }
        let postgres = self.backend() == Backend::Postgres;
        let mut conn = self.background_writer().await?;
        let mut tx = self.begin_bookkeeping(&mut conn).await?;
        let mut ids: Vec<&str> = rounds.iter().map(|r| r.message_id).collect();
        ids.sort_unstable();
        ids.dedup();
        // On PostgreSQL the rows are locked in id order: rounds of one message on several nodes (one route
        // each) settle one after the other, so the last one sees every recipient final and finishes it.
        let mut messages = Self::queue_message_rows(&mut tx, &ids, postgres).await?;

        let results: Vec<i64> = rounds
            .iter()
            .filter(|r| messages.contains_key(r.message_id))
            .flat_map(|r| r.results.iter().map(|a| a.recipient_id))
            .collect();
        let leased: std::collections::HashSet<i64> = if results.is_empty() {
            Default::default()
        } else {
            // Only ids (integers) are formatted in.
            let sql = format!(
                "SELECT id FROM queue_recipients WHERE lease_owner = $1 AND id IN ({}) ORDER BY id{}",
                sql::id_list(results.iter().copied()),
                // Locked in id order, as the messages were: two writers locking the same rows take them in the
                // same order and never wait on each other in a circle.
                if postgres { " FOR UPDATE" } else { "" }
            );
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .bind(owner)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect()
        };
        let recorded: Vec<bool> = rounds
            .iter()
            .map(|r| messages.contains_key(r.message_id) && r.results.iter().all(|a| leased.contains(&a.recipient_id)))
            .collect();

        // One update per distinct outcome: a round's recipients mostly share theirs.
        let mut outcomes: std::collections::BTreeMap<(&str, i64, &str, bool), Vec<i64>> = Default::default();
        for (round, _) in rounds.iter().zip(&recorded).filter(|(_, ok)| **ok) {
            for a in round.results {
                let key = (a.status.as_str(), a.next_attempt_at, a.reply.as_str(), a.attempted);
                outcomes.entry(key).or_default().push(a.recipient_id);
            }
        }
        for ((status, next_attempt_at, reply, attempted), recipients) in outcomes {
            // Only ids (integers) are formatted in.
            let sql = format!(
                "UPDATE queue_recipients SET status = $1, attempts = attempts + $2, next_attempt_at = $3, \
                 last_reply = $4, updated_at = $5, lease_owner = NULL, lease_until = NULL WHERE id IN ({})",
                sql::id_list(recipients.into_iter())
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .bind(status)
                .bind(i64::from(attempted))
                .bind(next_attempt_at)
                .bind(reply)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }

        let settling: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| rounds.iter().zip(&recorded).any(|(r, ok)| *ok && r.message_id == *id))
            .collect();
        let recipients = Self::queue_recipients_of(&mut tx, &settling).await?;
        let mut answers = Vec::with_capacity(rounds.len());
        let (mut attempts, mut logged, mut finished) = (Vec::new(), std::collections::BTreeMap::new(), Vec::new());
        for (round, ok) in rounds.iter().zip(&recorded) {
            if !ok && !round.results.is_empty() {
                answers.push(Settled::LeaseLost);
                continue;
            }
            let Some(message) = messages.get_mut(round.message_id) else {
                answers.push(Settled::Gone);
                continue;
            };
            message.recipients = recipients.get(round.message_id).cloned().unwrap_or_default();
            let status = DeliveryStatus::of(&message.recipients);
            if let Some(log_id) = message.log_id {
                for a in round.results.iter().filter(|a| a.attempted) {
                    if let Some(q) = message.recipients.iter().find(|q| q.id == a.recipient_id) {
                        attempts.push((log_id, q.address.clone(), a));
                    }
                }
                let last_reply = round.results.last().map(|a| a.reply.as_str());
                logged.entry((status.as_str(), last_reply)).or_insert_with(Vec::new).push(log_id);
            }
            // A message that needs a bounce stays until the bounce replaces it in one commit (`queue_replace`);
            // recovery finds it by its recipients, none of which waits.
            let needs_bounce = status.needs_bounce() && !message.sender.is_empty();
            if status != DeliveryStatus::Deferred && !needs_bounce {
                finished.push(round.message_id);
            }
            answers.push(Settled::Recorded(message.clone(), status));
        }
        Self::attempts_insert(&mut tx, &attempts, owner, now).await?;
        for ((status, last_reply), log_ids) in logged {
            // Only ids (integers) are formatted in.
            let sql = format!(
                "UPDATE message_log SET delivery_status = $1, last_reply = COALESCE($2, last_reply) WHERE id IN ({})",
                sql::id_list(log_ids.into_iter())
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .persistent(false)
                .bind(status)
                .bind(last_reply)
                .execute(&mut *tx)
                .await?;
        }
        finished.dedup();
        Self::queue_delete_messages(&mut tx, &finished).await?;
        tx.commit().await?;
        Ok(answers)
    }

    /// The queue rows of `ids` (without their recipients), by id; locked on PostgreSQL when `lock`.
    async fn queue_message_rows(
        conn: &mut sqlx::AnyConnection,
        ids: &[&str],
        lock: bool,
    ) -> Result<std::collections::HashMap<String, QueuedMessage>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        // Only numbered placeholders are formatted in; every id is bound.
        let sql = format!(
            "SELECT id, sender, size, received_at, expires_at, log_id, account, body FROM queue_messages \
             WHERE id IN ({}) ORDER BY id{}",
            sql::placeholders(1, ids.len()),
            if lock { " FOR UPDATE" } else { "" }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        Ok(rows.iter().map(message_from_row).map(|m| (m.id.clone(), m)).collect())
    }

    /// Every recipient of the messages `ids`, whatever their status, by message, in order.
    async fn queue_recipients_of(
        conn: &mut sqlx::AnyConnection,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<QueuedRecipient>>> {
        let mut by_message: std::collections::HashMap<String, Vec<QueuedRecipient>> = Default::default();
        if ids.is_empty() {
            return Ok(by_message);
        }
        // Only numbered placeholders are formatted in; every id is bound.
        let sql = format!(
            "SELECT id, message_id, address, route, status, attempts, next_attempt_at, last_reply, lease_owner \
             FROM queue_recipients WHERE message_id IN ({}) ORDER BY id",
            sql::placeholders(1, ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            by_message.entry(row.get("message_id")).or_default().push(recipient_from_row(&row));
        }
        Ok(by_message)
    }

    /// Records attempts for the messages' tracking pages: (log row, recipient, outcome).
    async fn attempts_insert(
        conn: &mut sqlx::AnyConnection,
        attempts: &[(i64, String, &AttemptResult)],
        node: &str,
        now: i64,
    ) -> Result<()> {
        // Bounded so a statement stays well inside every backend's limit on bound values.
        for chunk in attempts.chunks(1000) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${}, $1, $2, ${}, ${})", 3 + 4 * i, 4 + 4 * i, 5 + 4 * i, 6 + 4 * i))
                .collect();
            let sql = format!(
                "INSERT INTO delivery_attempts (log_id, recipient, attempted_at, node, status, reply) VALUES {}",
                values.join(", ")
            );
            // Only numbered placeholders are formatted in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(node);
            for (log_id, address, a) in chunk {
                query = query.bind(*log_id).bind(address.as_str()).bind(a.status.as_str()).bind(a.reply.as_str());
            }
            query.execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Records `rows` (a bounce, with its body when the database stores bodies) and drops the finished
    /// message `original`, in one commit. False, and nothing written, when `original` is already gone.
    pub async fn queue_replace(
        &self,
        original: &str,
        rows: &[Accepted],
        bodies: &[(BodyKey, Vec<u8>)],
    ) -> Result<bool> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = conn.begin().await?;
        if !Self::queue_delete_rows(&mut tx, original).await? {
            return Ok(false);
        }
        let log_ids = Self::log_ids_ahead(&mut tx, self.backend(), rows.len()).await?;
        let mut statements = Batch::new(self.backend());
        Self::bodies_insert(&mut statements, bodies);
        let entries: Vec<&NewLogEntry> = rows.iter().map(|a| &a.log).collect();
        Self::logs_push(&mut statements, &log_ids, &entries);
        let mut queued = Vec::with_capacity(rows.len());
        for (accepted, &log_id) in rows.iter().zip(&log_ids) {
            if let Disposition::Queue(message) = &accepted.disposition {
                queued.push((message, log_id));
            }
        }
        Self::queue_push(&mut statements, &queued);
        statements.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Messages none of whose recipients waits any more, still in the queue: a bounce was due when the
    /// process stopped. Recovery finishes them.
    pub async fn queue_finished(&self) -> Result<Vec<QueuedMessage>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM queue_messages m WHERE NOT EXISTS \
             (SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id AND r.status = 'queued')",
        )
        .fetch_all(self.pool())
        .await?;
        let mut conn = self.pool().acquire().await?;
        let mut finished = Vec::with_capacity(ids.len());
        for id in ids {
            finished.extend(Self::queue_message_row(&mut conn, &id).await?);
        }
        Ok(finished)
    }

    /// Makes every waiting recipient due now (`moat queue flush`). Returns how many.
    pub async fn queue_flush(&self) -> Result<u64> {
        let done = sqlx::query("UPDATE queue_recipients SET next_attempt_at = 0 WHERE status = 'queued'")
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }

    /// Drops a message from the queue (its body goes with the next sweep).
    pub async fn queue_delete(&self, id: &str) -> Result<()> {
        let mut conn = self.writer().acquire().await?;
        let mut tx = conn.begin().await?;
        if !Self::queue_delete_rows(&mut tx, id).await? {
            return Err(StoreError::NotFound { what: format!("queued message {id}") });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn queue_delete_rows(conn: &mut sqlx::AnyConnection, id: &str) -> Result<bool> {
        Ok(Self::queue_delete_messages(conn, &[id]).await? > 0)
    }

    /// Drops messages and their recipients from the queue; returns how many messages were there.
    async fn queue_delete_messages(conn: &mut sqlx::AnyConnection, ids: &[&str]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut dropped = 0;
        for (table, column) in [("queue_recipients", "message_id"), ("queue_messages", "id")] {
            // Only fixed names and numbered placeholders are formatted in; every id is bound.
            let sql = format!("DELETE FROM {table} WHERE {column} IN ({})", sql::placeholders(1, ids.len()));
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(*id);
            }
            dropped = query.execute(&mut *conn).await?.rows_affected();
        }
        Ok(dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;
    use std::collections::HashMap;

    fn log_entry() -> NewLogEntry {
        NewLogEntry {
            queue_id: Some("q1".into()),
            received_at: 100,
            client_ip: "192.0.2.1".into(),
            helo: "mx.sender.example".into(),
            tls: true,
            sender: "a@sender.example".into(),
            recipients: "bob@example.com, carol@example.com".into(),
            size: 10,
            subject: Some("Hello".into()),
            message_id: Some("<1@sender.example>".into()),
            verdict: "accepted".into(),
            delivery_status: "queued".into(),
            tenant: Some(1),
            score: Some(2.5),
            symbols: Some("A,B".into()),
            report: Some("[]".into()),
            direction: crate::Direction::Inbound,
            body: None,
        }
    }

    /// The claim must read due recipients in index order: sorting them (SQLite's "TEMP B-TREE") made each claim
    /// cost in proportion to the backlog, 0.5 ms at 32 clients.
    #[tokio::test]
    async fn the_claim_reads_due_recipients_from_its_index_without_sorting() {
        let (store, _dir) = stores().await.swap_remove(0);
        let sql = claim_candidates_sql(1, 2, Backend::Sqlite);
        let plan = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
            .bind(1000_i64)
            .bind(96_i64)
            .bind("full.example")
            .bind("m1")
            .bind("m2")
            .fetch_all(store.pool())
            .await
            .unwrap();
        let plan: Vec<String> = plan.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(plan.iter().any(|step| step.contains("COVERING INDEX queue_recipients_due")), "{plan:?}");
        assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{plan:?}");
    }

    fn recorded(settled: Settled) -> (QueuedMessage, DeliveryStatus) {
        match settled {
            Settled::Recorded(message, status) => (message, status),
            other => panic!("not recorded: {other:?}"),
        }
    }

    fn outcome(recipient_id: i64, status: RecipientStatus, reply: &str) -> AttemptResult {
        let next_attempt_at = if status == RecipientStatus::Queued { 1000 } else { 0 };
        AttemptResult { recipient_id, status, next_attempt_at, reply: reply.into(), attempted: true }
    }

    fn queued(log: NewLogEntry, message: NewQueuedMessage) -> Accepted {
        Accepted { log, disposition: Disposition::Queue(message) }
    }

    static NO_ROUTES_IN_USE: std::sync::LazyLock<HashMap<String, usize>> = std::sync::LazyLock::new(HashMap::new);

    /// A claim by idle workers: 10 messages, 8 slots per route, nothing in flight.
    fn claim(now: i64, lease_until: i64) -> ClaimRequest<'static> {
        ClaimRequest {
            now,
            owner: "node-a",
            lease_until,
            messages: 10,
            in_flight: &[],
            route_slots: &NO_ROUTES_IN_USE,
            free_per_route: 8,
        }
    }

    fn to_routes(id: &str, recipients: &[(&str, &str)]) -> Accepted {
        let message = NewQueuedMessage {
            id: id.into(),
            body: BodyKey::of(&[id.as_bytes()]),
            sender: "a@sender.example".into(),
            size: 10,
            received_at: 100,
            expires_at: 100 + 86400,
            recipients: recipients.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect(),
            account: None,
        };
        queued(NewLogEntry { queue_id: Some(id.into()), ..log_entry() }, message)
    }

    /// A group commit writes its bodies, messages and recipients by multi-row statements: a group larger than
    /// one statement carries, and a body two messages share (PostgreSQL will not update a row twice in one
    /// statement), all land, each message with its own log row.
    #[tokio::test]
    async fn a_group_larger_than_one_insert_with_a_shared_body_is_queued_whole() {
        for (store, _dir) in stores().await {
            let n = sql::ROWS_PER_INSERT + 7;
            let batch: Vec<Accepted> = (0..n)
                .map(|i| to_routes(&format!("g{i}"), &[("ann@x.test", "x.test"), ("bob@y.test", "y.test")]))
                .collect();
            let (shared, other) = (BodyKey::of(&[b"same body"]), BodyKey::of(&[b"other body"]));
            let bodies = [
                (shared.clone(), b"same body".to_vec()),
                (other.clone(), b"other body".to_vec()),
                (shared.clone(), b"same body".to_vec()),
            ];
            let log_ids = store.accept_batch(&batch, &bodies).await.unwrap();
            assert_eq!(log_ids.len(), n);
            let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool());
            assert_eq!(count("SELECT COUNT(*) FROM queue_messages").await.unwrap(), n as i64);
            let queued = count("SELECT COUNT(*) FROM queue_recipients WHERE status = 'queued'").await.unwrap();
            assert_eq!(queued, 2 * n as i64);
            for i in [0, sql::ROWS_PER_INSERT, n - 1] {
                let log_id: i64 = sqlx::query_scalar("SELECT log_id FROM queue_messages WHERE id = $1")
                    .bind(format!("g{i}"))
                    .fetch_one(store.pool())
                    .await
                    .unwrap();
                assert_eq!(log_id, log_ids[i], "message {i} points at its own log row");
            }
            assert_eq!(store.body_get(&shared).await.unwrap().as_deref(), Some(&b"same body"[..]));
            assert_eq!(store.body_get(&other).await.unwrap().as_deref(), Some(&b"other body"[..]));
        }
    }

    /// A group commit begins and commits its transaction by its own statements: when a statement late in the
    /// batch fails (here the queue insert, after the body and log rows went in), none of the group is left
    /// written, and the next group commits on a writer outside any transaction.
    #[tokio::test]
    async fn a_group_that_fails_part_way_writes_nothing_and_the_next_commits() {
        for (store, _dir) in stores().await {
            store.accept_batch(&[to_routes("taken", &[("ann@x.test", "x.test")])], &[]).await.unwrap();
            let body = BodyKey::of(&[b"failing group"]);
            let failing =
                [to_routes("new", &[("ann@x.test", "x.test")]), to_routes("taken", &[("bob@x.test", "x.test")])];
            let err = store.accept_batch(&failing, &[(body.clone(), b"failing group".to_vec())]).await;
            assert!(err.is_err(), "a queue id taken twice must fail the group");
            let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql).fetch_one(store.pool());
            assert_eq!(count("SELECT COUNT(*) FROM message_log").await.unwrap(), 1);
            assert_eq!(count("SELECT COUNT(*) FROM queue_messages").await.unwrap(), 1);
            assert_eq!(count("SELECT COUNT(*) FROM queue_recipients").await.unwrap(), 1);
            assert_eq!(store.body_get(&body).await.unwrap(), None);
            let ids = store.accept_batch(&[to_routes("after", &[("cy@x.test", "x.test")])], &[]).await.unwrap();
            assert_eq!(count("SELECT COUNT(*) FROM message_log").await.unwrap(), 2);
            let log_id: i64 = sqlx::query_scalar("SELECT log_id FROM queue_messages WHERE id = 'after'")
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(log_id, ids[0]);
        }
    }

    /// A burst to one destination used to be claimed whole, and what did not fit the destination's slots was
    /// postponed 10 s; now a claim takes per route only what the route has room for and leaves the rest due.
    #[tokio::test]
    async fn a_claim_takes_per_route_only_what_the_route_has_room_for() {
        for (store, _dir) in stores().await {
            let mut burst: Vec<Accepted> =
                (0..5).map(|n| to_routes(&format!("b{n}"), &[("bob@busy.test", "busy.test")])).collect();
            burst.push(to_routes("mixed", &[("ann@busy.test", "busy.test"), ("cy@calm.test", "calm.test")]));
            burst.push(to_routes("calm", &[("dee@calm.test", "calm.test")]));
            store.accept_batch(&burst, &[]).await.unwrap();

            let in_use = HashMap::from([("busy.test".to_owned(), 2)]);
            let request = ClaimRequest { route_slots: &in_use, ..claim(100, 700) };
            let claimed = store.queue_claim_due(&request).await.unwrap();
            let busy = claimed.iter().flat_map(|m| &m.recipients).filter(|r| r.route == "busy.test").count();
            assert_eq!(busy, 2, "two free slots: two of busy.test's messages");
            let calm: Vec<&str> = claimed
                .iter()
                .filter(|m| m.recipients.iter().any(|r| r.route == "calm.test"))
                .map(|m| m.id.as_str())
                .collect();
            assert_eq!(calm.len(), 2, "calm.test is not behind busy.test's backlog: {calm:?}");

            // busy.test full, the mixed message in flight: only what is left of busy.test would be due, and it waits.
            let full = HashMap::from([("busy.test".to_owned(), 0)]);
            let in_flight = ["mixed".to_owned()];
            let request = ClaimRequest { route_slots: &full, in_flight: &in_flight, ..claim(101, 700) };
            assert!(store.queue_claim_due(&request).await.unwrap().is_empty());
            let left = store.queue_claim_due(&claim(101, 700)).await.unwrap();
            let left_busy = left.iter().flat_map(|m| &m.recipients).filter(|r| r.route == "busy.test").count();
            assert_eq!(left_busy, 6 - busy, "the rest of busy.test was left due, not leased");

            let one = ClaimRequest { messages: 1, ..claim(800, 900) };
            assert_eq!(store.queue_claim_due(&one).await.unwrap().len(), 1, "no more messages than free workers");
        }
    }

    #[tokio::test]
    async fn quarantined_messages_are_held_then_released_into_the_queue_once() {
        for (store, _dir) in stores().await {
            let held = crate::NewQuarantined {
                id: "h1".into(),
                tenant: crate::DEFAULT_TENANT,
                sender: "a@sender.example".into(),
                recipients: vec![("bob@example.com".into(), "example.com".into())],
                subject: Some("Win".into()),
                score: 11.5,
                reason: "score 11.5: BAYES_SPAM".into(),
                received_at: 100,
                body: BodyKey::of(&[b"Subject: Win\r\n\r\nx\r\n"]),
                size: 19,
                direction: crate::Direction::Inbound,
            };
            let rejected = Accepted { log: log_entry(), disposition: Disposition::LogOnly };
            let quarantined = Accepted { log: log_entry(), disposition: Disposition::Quarantine(held) };
            let ids = store.accept_batch(&[rejected, quarantined], &[]).await.unwrap();
            assert_eq!(ids.len(), 2);
            assert_eq!(store.queue_status().await.unwrap().messages, 0, "nothing queued");
            let listed = store.quarantine_list(Some(crate::DEFAULT_TENANT), 10).await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].recipients, [("bob@example.com".to_string(), "example.com".to_string())]);
            assert_eq!(listed[0].score, 11.5);
            assert!(store.quarantine_list(Some(crate::TenantId(2)), 10).await.unwrap().is_empty(), "other tenant");
            let found = |text: &str, since, until| {
                let search =
                    crate::HeldSearch { text: Some(text.into()), since, until, limit: 10, ..Default::default() };
                let store = store.clone();
                async move { store.quarantine_search(&search).await.unwrap().len() }
            };
            assert_eq!(found("WIN", None, None).await, 1, "subject, any case");
            assert_eq!(found("@sender.example", None, None).await, 1, "sender");
            assert_eq!(found("bob@example.com", Some(100), Some(101)).await, 1, "recipient, within the day");
            assert_eq!(found("", Some(101), None).await, 0, "received before");
            assert_eq!(found("", None, Some(100)).await, 0, "received after");
            assert_eq!(found("%", None, None).await, 0, "LIKE wildcards are literal");
            let held = store.quarantine_get("h1").await.unwrap().unwrap();
            assert_eq!(held.body, Some(BodyKey::of(&[b"Subject: Win\r\n\r\nx\r\n"])));

            let message = NewQueuedMessage {
                id: "r1".into(),
                body: held.body.clone().unwrap(),
                sender: "a@sender.example".into(),
                size: held.size,
                received_at: 200,
                expires_at: 1000,
                recipients: listed[0].recipients.clone(),
                account: None,
            };
            store.quarantine_release("h1", &message, 200).await.unwrap();
            assert_eq!(store.queue_status().await.unwrap().messages, 1);
            assert!(store.quarantine_list(None, 10).await.unwrap().is_empty(), "released messages leave the list");
            let again = store.quarantine_release("h1", &NewQueuedMessage { id: "r2".into(), ..message }, 201).await;
            assert!(matches!(again, Err(StoreError::NotFound { .. })), "released only once");
            assert_eq!(store.queue_status().await.unwrap().messages, 1, "the failed release queued nothing");
            assert_eq!(store.log_tail(0, 10).await.unwrap()[1].delivery_status, "queued (released)");

            assert_eq!(store.quarantine_purge(100).await.unwrap(), 0, "received at 100: not before 100");
            assert_eq!(store.quarantine_purge(101).await.unwrap(), 1, "released or not, it ages out");
            assert!(store.quarantine_get("h1").await.unwrap().is_none());
        }
    }

    #[tokio::test]
    async fn claim_leases_due_recipients_and_attempts_are_recorded() {
        for (store, _dir) in stores().await {
            let message = NewQueuedMessage {
                id: "q1".into(),
                body: BodyKey::of(&[b"q1"]),
                sender: "a@sender.example".into(),
                size: 10,
                received_at: 100,
                expires_at: 100 + 5 * 86400,
                recipients: vec![
                    ("bob@example.com".into(), "example.com".into()),
                    ("carol@example.com".into(), "example.com".into()),
                ],
                account: Some("smtp-abc@sender.example".into()),
            };
            let log_id = store.accept_batch(&[queued(log_entry(), message)], &[]).await.unwrap()[0];
            assert_eq!(store.queue_status().await.unwrap(), QueueStatus { messages: 1, recipients: 2 });
            let (tenant_1, tenant_2) = (Some(crate::TenantId(1)), Some(crate::TenantId(2)));
            assert_eq!(store.queue_status_of(tenant_1, None).await.unwrap().messages, 1, "tenant 1's mail");
            assert_eq!(store.queue_status_of(tenant_2, None).await.unwrap().messages, 0, "not tenant 2's");
            let none: &[crate::DomainId] = &[];
            assert_eq!(store.queue_status_of(tenant_1, Some(none)).await.unwrap().messages, 0, "no domain of it");

            let claimed = store.queue_claim_due(&claim(100, 700)).await.unwrap();
            assert_eq!(claimed.len(), 1);
            assert_eq!(claimed[0].log_id, Some(log_id));
            assert_eq!(claimed[0].account.as_deref(), Some("smtp-abc@sender.example"), "who submitted it");
            assert_eq!(claimed[0].recipients.len(), 2);
            assert!(store.queue_claim_due(&claim(101, 700)).await.unwrap().is_empty(), "leased, not due again");

            let [bob, carol] = [&claimed[0].recipients[0], &claimed[0].recipients[1]];
            let attempt = |r: &QueuedRecipient, status, next, reply: &str| AttemptResult {
                recipient_id: r.id,
                status,
                next_attempt_at: next,
                reply: reply.into(),
                attempted: true,
            };
            let results = [
                attempt(bob, RecipientStatus::Delivered, 0, "250 ok"),
                attempt(carol, RecipientStatus::Queued, 400, "451 later"),
            ];
            let (_, status) = recorded(store.queue_settle("q1", "node-a", &results, 101).await.unwrap());
            assert_eq!(status, DeliveryStatus::Deferred);
            assert_eq!(store.log_tail(0, 1).await.unwrap()[0].delivery_status, "deferred");
            assert!(store.queue_claim_due(&claim(399, 1000)).await.unwrap().is_empty());
            let again = store.queue_claim_due(&claim(400, 1000)).await.unwrap();
            assert_eq!(again[0].recipients.len(), 1);
            assert_eq!(again[0].recipients[0].attempts, 1);
            assert_eq!(again[0].recipients[0].last_reply.as_deref(), Some("451 later"));

            store.queue_flush().await.unwrap();
            let carol = &again[0].recipients[0];
            let results = [attempt(carol, RecipientStatus::Delivered, 0, "250 at last")];
            let (_, status) = recorded(store.queue_settle("q1", "node-a", &results, 401).await.unwrap());
            assert_eq!(status, DeliveryStatus::Delivered);
            assert!(store.queue_get("q1").await.unwrap().is_none(), "a fully delivered message leaves the queue");
            let log = &store.log_tail(0, 1).await.unwrap()[0];
            assert_eq!((log.delivery_status.as_str(), log.last_reply.as_deref()), ("delivered", Some("250 at last")));
            assert_eq!(store.queue_status().await.unwrap(), QueueStatus::default());
            let journey: Vec<_> = store
                .log_attempts(log_id)
                .await
                .unwrap()
                .into_iter()
                .map(|a| (a.recipient, a.attempted_at, a.node, a.status, a.reply))
                .collect();
            let at = |who: &str, when, status: &str, reply: &str| {
                (who.to_owned(), when, "node-a".to_owned(), status.to_owned(), reply.to_owned())
            };
            assert_eq!(
                journey,
                [
                    at("bob@example.com", 101, "delivered", "250 ok"),
                    at("carol@example.com", 101, "queued", "451 later"),
                    at("carol@example.com", 401, "delivered", "250 at last"),
                ],
                "every attempt is kept for the message's tracking"
            );
            store.log_purge(i64::MAX).await.unwrap();
            assert!(store.log_attempts(log_id).await.unwrap().is_empty(), "and purged with its log row");
        }
    }

    /// Rounds recorded together each get their own answer: one whose lease was taken over, or whose message
    /// was deleted meanwhile, writes nothing, and the others are recorded as if alone.
    #[tokio::test]
    async fn rounds_recorded_together_are_each_fenced_and_answered() {
        for (store, _dir) in stores().await {
            for (id, rcpt) in [("m1", "bob@a.test"), ("m2", "ann@a.test"), ("m3", "cy@a.test"), ("m4", "di@a.test")] {
                store.accept_batch(&[to_routes(id, &[(rcpt, "a.test")])], &[]).await.unwrap();
            }
            let by = |owner, now, until| ClaimRequest { owner, ..claim(now, until) };
            let a = store.queue_claim_due(&by("node-a", 100, 160)).await.unwrap();
            assert_eq!(a.len(), 4, "node A claims all four in one claim");
            let of = |id: &str| a.iter().find(|m| m.id == id).unwrap().recipients[0].id;
            // A renews m1 and m2 only: m3's lease expires and node B takes it over; m4 is deleted by an admin.
            let renewed = ["m1".to_owned(), "m2".to_owned()];
            assert_eq!(store.queue_renew_leases("node-a", &renewed, 400).await.unwrap(), 2);
            let b = store.queue_claim_due(&by("node-b", 170, 230)).await.unwrap();
            assert_eq!(b.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m3", "m4"]);
            let b3 = b[0].recipients[0].id;
            store
                .queue_settle("m3", "node-b", &[outcome(b3, RecipientStatus::Queued, "451 from B")], 171)
                .await
                .unwrap();
            store.queue_delete("m4").await.unwrap();

            let r1 = [outcome(of("m1"), RecipientStatus::Delivered, "250 one")];
            let r2 = [outcome(of("m2"), RecipientStatus::Queued, "451 two")];
            let r3 = [outcome(b3, RecipientStatus::Delivered, "250 late")];
            let r4 = [outcome(of("m4"), RecipientStatus::Delivered, "250 deleted")];
            let rounds = [
                Round { message_id: "m1", results: &r1 },
                Round { message_id: "m2", results: &r2 },
                Round { message_id: "m3", results: &r3 },
                Round { message_id: "m4", results: &r4 },
                Round { message_id: "m4", results: &[] },
            ];
            let answers = store.queue_settle_rounds("node-a", &rounds, 172).await.unwrap();
            assert!(matches!(answers[0], Settled::Recorded(_, DeliveryStatus::Delivered)), "{:?}", answers[0]);
            assert!(matches!(answers[1], Settled::Recorded(_, DeliveryStatus::Deferred)), "{:?}", answers[1]);
            assert!(matches!(answers[2], Settled::LeaseLost), "m3 is B's: {:?}", answers[2]);
            assert!(matches!(answers[3], Settled::LeaseLost), "m4 was deleted: {:?}", answers[3]);
            assert!(matches!(answers[4], Settled::Gone), "nothing to record, and gone: {:?}", answers[4]);
            assert!(store.queue_get("m1").await.unwrap().is_none(), "delivered: gone from the queue");
            let m2 = store.queue_get("m2").await.unwrap().unwrap();
            assert_eq!((m2.recipients[0].attempts, m2.recipients[0].last_reply.as_deref()), (1, Some("451 two")));
            let m3 = store.queue_get("m3").await.unwrap().unwrap();
            assert_eq!(m3.recipients[0].last_reply.as_deref(), Some("451 from B"), "B's round stands");
            let statuses: Vec<String> =
                store.log_tail(0, 10).await.unwrap().into_iter().map(|l| l.delivery_status).collect();
            assert_eq!(statuses.iter().filter(|s| *s == "delivered").count(), 1, "{statuses:?}");
            assert_eq!(statuses.iter().filter(|s| *s == "deferred").count(), 2, "m2 and m3: {statuses:?}");
        }
    }

    /// A node froze mid-delivery; its lease expired and another node took the message over. The frozen
    /// node's late round must not overwrite the one that counts, and a node's start releases only its own
    /// leases and expired ones, never a live lease of another node.
    #[tokio::test]
    async fn leases_are_taken_over_after_expiry_and_a_late_settle_is_refused() {
        for (store, _dir) in stores().await {
            store.accept_batch(&[to_routes("m1", &[("bob@a.test", "a.test")])], &[]).await.unwrap();
            store.accept_batch(&[to_routes("m2", &[("ann@b.test", "b.test")])], &[]).await.unwrap();
            let by = |owner, now, until| ClaimRequest { owner, ..claim(now, until) };
            let a = store.queue_claim_due(&by("node-a", 100, 160)).await.unwrap();
            assert_eq!(a.len(), 2, "node A claims both");
            assert!(store.queue_claim_due(&by("node-b", 150, 210)).await.unwrap().is_empty(), "A's leases are live");
            assert_eq!(store.queue_leases(150).await.unwrap(), [("node-a".to_owned(), 2)]);

            let both = ["m1".to_owned(), "m2".to_owned()];
            assert_eq!(store.queue_renew_leases("node-a", &both, 400).await.unwrap(), 2, "A's heartbeat renews both");
            let other = ["m9".to_owned()];
            assert_eq!(store.queue_renew_leases("node-a", &other, 400).await.unwrap(), 0, "only what is in flight");
            assert!(store.queue_claim_due(&by("node-b", 200, 260)).await.unwrap().is_empty(), "renewed: still A's");

            let b = store.queue_claim_due(&by("node-b", 401, 460)).await.unwrap();
            assert_eq!(b.len(), 2, "A stopped renewing: B takes both over once the leases expire");
            let attempt = |m: &QueuedMessage, reply: &str| AttemptResult {
                recipient_id: m.recipients[0].id,
                status: RecipientStatus::Queued,
                next_attempt_at: 1000,
                reply: reply.into(),
                attempted: true,
            };
            let m1 = b.iter().find(|m| m.id == "m1").unwrap();
            recorded(store.queue_settle("m1", "node-b", &[attempt(m1, "451 from B")], 402).await.unwrap());
            let late = store.queue_settle("m1", "node-a", &[attempt(&a[0], "451 from A")], 403).await.unwrap();
            assert!(matches!(late, Settled::LeaseLost), "A's late round is refused: {late:?}");
            let m1 = store.queue_get("m1").await.unwrap().unwrap();
            assert_eq!(m1.recipients[0].last_reply.as_deref(), Some("451 from B"), "B's round stands");
            assert_eq!(m1.recipients[0].attempts, 1, "A's attempt is not counted");

            // A restarts: it may release its own leases and expired ones, not B's live lease on m2.
            assert_eq!(store.queue_release_leases("node-a", 410).await.unwrap(), 0, "none of A's, none expired");
            assert_eq!(store.queue_leases(410).await.unwrap(), [("node-b".to_owned(), 1)]);
            assert_eq!(store.queue_release_leases("node-b", 410).await.unwrap(), 1, "B's restart frees its own");
            assert_eq!(store.queue_claim_due(&by("node-a", 410, 470)).await.unwrap().len(), 1, "m2 is due again");
        }
    }
}
