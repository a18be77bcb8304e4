//! Several nodes on one PostgreSQL: the same load through 1, 2 and 3 `moat` processes sharing the queue and
//! the message store (the database store, the cluster default), no filters, 10 KB messages, clients spread
//! evenly over the nodes. The nodes share this machine's cores with PostgreSQL, the clients and the sink, so
//! the rate cannot grow with nodes here; what must hold is that the shared queue does not serialize them:
//! messages per CPU second (every node's and PostgreSQL's CPU) stay flat as nodes are added. Also reported:
//! statements and transactions PostgreSQL ran per message (`pg_stat_statements`, `pg_stat_database`).
//!
//! `source scripts/postgres.sh && cargo bench -p moat-tests --bench cluster` (env: MOAT_BENCH_MESSAGES,
//! default 2000; MOAT_BENCH_CLIENTS, default 24; MOAT_BENCH_NODES, default "1,2,3"; MOAT_BENCH_STATEMENTS=1
//! lists each statement's calls per message; MOAT_BENCH_BIN runs another build, for A/B runs). The test server
//! runs with `fsync=off`, so the figures leave out PostgreSQL's own disk flushes.

use moat_tests::{Backend, Client, Moat, Sink, process_cpu};
use sqlx::Row;
use std::time::{Duration, Instant};

/// The `moat` under test (or `MOAT_BENCH_BIN`'s).
fn bin() -> String {
    moat_tests::bench_binary(env!("CARGO_BIN_EXE_moat-e2e"))
}
const PER_CONNECTION: usize = 100;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run() {
    assert!(std::env::var_os("MOAT_TEST_POSTGRES_URL").is_some(), "source scripts/postgres.sh first");
    let messages: usize = env_or("MOAT_BENCH_MESSAGES", 2000);
    let clients: usize = env_or("MOAT_BENCH_CLIENTS", 24);
    let counts = std::env::var("MOAT_BENCH_NODES").unwrap_or_else(|_| "1,2,3".into());
    println!(
        "| nodes | clients | messages | accepted msg/s | p99 ms | queue empty after s | moat CPU ms/msg | \
         PostgreSQL CPU ms/msg | msgs per CPU second | statements/msg | transactions/msg |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for nodes in counts.split(',').filter_map(|n| n.trim().parse::<usize>().ok()) {
        let f = once(nodes, clients, messages).await;
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / messages as f64;
        println!(
            "| {nodes} | {clients} | {messages} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} |",
            messages as f64 / f.accept_time.as_secs_f64(),
            f.p99.as_secs_f64() * 1000.0,
            f.drained_after.as_secs_f64(),
            per(f.moat_cpu),
            per(f.postgres_cpu),
            messages as f64 / (f.moat_cpu + f.postgres_cpu).as_secs_f64(),
            f.statements as f64 / messages as f64,
            f.transactions as f64 / messages as f64,
        );
    }
}

struct Figures {
    accept_time: Duration,
    p99: Duration,
    drained_after: Duration,
    moat_cpu: Duration,
    postgres_cpu: Duration,
    statements: i64,
    transactions: i64,
}

async fn once(nodes: usize, clients: usize, messages: usize) -> Figures {
    let sink = Sink::start().await;
    let node = |name: String| {
        Moat::builder(&bin(), Backend::Postgres)
            .set("cluster", "node", &format!("{name:?}"))
            .set("smtp", "max_connections_per_ip", "1000")
            .set("smtp", "connection_rate_per_ip", "0")
            .set("smtp", "connection_rate_per_network", "0")
            // The production defaults, not the tests' fast polling: idle polls would count as per-message work.
            .set("delivery", "poll_interval", "\"5s\"")
            .set("filters", "reload_interval", "\"1s\"")
    };
    let first = node("n1".into()).start().await.expect("PostgreSQL");
    first.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    let mut all = vec![first];
    for n in 2..=nodes {
        let next = node(format!("n{n}")).sharing_database_of(&all[0]).start().await.unwrap();
        all.push(next);
    }
    let db = sqlx::AnyPool::connect(&all[0].database_url).await.unwrap();
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(&db).await.unwrap();
    for moat in &all {
        warm_up(moat).await;
    }
    let warm = 10 * nodes;
    queue_empty(&db, &sink, warm).await;

    let counters = || async {
        let statements: i64 = sqlx::query(
            "SELECT COALESCE(SUM(calls), 0)::BIGINT AS n FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&db)
        .await
        .unwrap()
        .get("n");
        let transactions: i64 = sqlx::query(
            "SELECT (xact_commit + xact_rollback)::BIGINT AS n FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(&db)
        .await
        .unwrap()
        .get("n");
        (statements, transactions)
    };
    let moat_cpu = |all: &[Moat]| all.iter().map(|m| process_cpu(m.pid().unwrap())).sum::<Duration>();
    let (statements_before, transactions_before) = counters().await;
    let (moat_before, postgres_before) = (moat_cpu(&all), postgres_cpu());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let addr = all[c % nodes].smtp();
        let share = messages / clients + usize::from(c < messages % clients);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            let mut left = share;
            while left > 0 {
                let batch = left.min(PER_CONNECTION);
                let mut client = Client::connect(addr).await.unwrap();
                client.expect("220").await.unwrap();
                client.cmd("EHLO bench.test\r\n").await.unwrap();
                for _ in 0..batch {
                    let t = Instant::now();
                    client
                        .write("MAIL FROM:<load@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
                        .await
                        .unwrap();
                    for _ in 0..3 {
                        client.reply().await.unwrap();
                    }
                    client.write_bytes(&moat_tests::message_10k()).await.unwrap();
                    let reply = client.reply().await.unwrap();
                    assert!(reply.starts_with("250"), "{reply}");
                    latencies.push(t.elapsed());
                }
                client.cmd("QUIT\r\n").await.unwrap();
                left -= batch;
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(messages);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let accept_time = start.elapsed();
    let polls = queue_empty(&db, &sink, warm + messages).await;
    let drained_after = start.elapsed();
    let (moat_cpu, postgres_cpu) = (moat_cpu(&all) - moat_before, postgres_cpu() - postgres_before);
    let (statements, transactions) = counters().await;
    // The bench's own reads: the counters (two statements, their transactions) and the queue polls.
    let statements = statements - statements_before - 2 - polls;
    let transactions = transactions - transactions_before - 2 - polls;
    if std::env::var_os("MOAT_BENCH_STATEMENTS").is_some() {
        print_statements(&db, messages).await;
    }
    latencies.sort();
    let p99 = latencies[((latencies.len() as f64 * 0.99) as usize).min(latencies.len() - 1)];
    db.close().await;
    Figures { accept_time, p99, drained_after, moat_cpu, postgres_cpu, statements, transactions }
}

/// Which statements a message costs (`MOAT_BENCH_STATEMENTS=1`): calls per message of each statement run at
/// least once per ten messages, warm-up included, most frequent first.
async fn print_statements(db: &sqlx::AnyPool, messages: usize) {
    let rows = sqlx::query(
        "SELECT calls::BIGINT AS calls, query FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC",
    )
    .fetch_all(db)
    .await
    .unwrap();
    eprintln!("| calls/msg | statement |\n|---|---|");
    for row in rows {
        let calls: i64 = row.get("calls");
        if calls as usize * 10 < messages {
            break;
        }
        let query: String = row.get("query");
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        eprintln!("| {:.2} | {} |", calls as f64 / messages as f64, query.chars().take(150).collect::<String>());
    }
}

/// CPU of every PostgreSQL process on the machine (the test server: its backends live as long as the
/// nodes' pooled connections).
fn postgres_cpu() -> Duration {
    let mut total = Duration::ZERO;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "postgres") {
            total += process_cpu(pid);
        }
    }
    total
}

async fn warm_up(moat: &Moat) {
    let mut client = Client::connect(moat.smtp()).await.unwrap();
    client.expect("220").await.unwrap();
    client.cmd("EHLO warm.bench.test\r\n").await.unwrap();
    for _ in 0..10 {
        client.cmd("MAIL FROM:<warm@sender.test>\r\n").await.unwrap();
        client.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap();
        client.cmd("DATA\r\n").await.unwrap();
        client.write_bytes(&moat_tests::message_10k()).await.unwrap();
        client.reply().await.unwrap();
    }
    client.cmd("QUIT\r\n").await.unwrap();
}

/// Waits until the sink has `delivered` messages and the queue is empty; returns the queries that took.
async fn queue_empty(db: &sqlx::AnyPool, sink: &Sink, delivered: usize) -> i64 {
    while sink.received().len() < delivered {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut polls = 0;
    loop {
        polls += 1;
        let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM queue_messages").fetch_one(db).await.unwrap().get("n");
        if left == 0 {
            return polls;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
