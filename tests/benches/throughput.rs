//! Throughput of the mail path with no filters: N concurrent SMTP clients on loopback send 10 KB messages
//! through a real `moat` process to a downstream sink. Reports accepted messages/s, p50/p99 latency of one
//! transaction (MAIL FROM to the `250` after DATA) and the time until all were delivered, with the spool and
//! database fsync on and off.
//!
//! `cargo bench -p moat-tests --bench throughput` (env: MOAT_BENCH_MESSAGES, default 2000;
//! MOAT_BENCH_CLIENTS, default "1,8,32"; MOAT_TEST_POSTGRES_URL adds a PostgreSQL run).

use moat_tests::{Backend, Client, Moat, Sink};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_moat-e2e");

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let messages: usize = std::env::var("MOAT_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let clients: Vec<usize> = std::env::var("MOAT_BENCH_CLIENTS")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let body = message_10k();
    println!("| backend | fsync | clients | messages | accepted msg/s | p50 ms | p99 ms | all delivered after s |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("MOAT_TEST_POSTGRES_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    for backend in backends {
        for fsync in [true, false] {
            for &n in &clients {
                let r = once(backend, fsync, n, messages, &body).await;
                println!(
                    "| {backend:?} | {} | {n} | {messages} | {:.0} | {:.2} | {:.2} | {:.2} |",
                    if fsync { "on" } else { "off" },
                    messages as f64 / r.accept_time.as_secs_f64(),
                    r.p50.as_secs_f64() * 1000.0,
                    r.p99.as_secs_f64() * 1000.0,
                    r.delivered_after.as_secs_f64(),
                );
            }
        }
    }
}

struct Figures {
    accept_time: Duration,
    p50: Duration,
    p99: Duration,
    delivered_after: Duration,
}

async fn once(backend: Backend, fsync: bool, clients: usize, messages: usize, body: &str) -> Figures {
    let sink = Sink::start().await;
    let moat = Moat::builder(BIN, backend)
        .set("spool", "fsync", if fsync { "true" } else { "false" })
        .set("smtp", "max_connections_per_ip", "1000")
        .start()
        .await
        .expect("backend available");
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    let addr = moat.smtp();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let share = messages / clients + usize::from(c < messages % clients);
        let body = body.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            let mut client = Client::connect(addr).await.unwrap();
            client.expect("220").await.unwrap();
            client.cmd("EHLO bench.test\r\n").await.unwrap();
            for _ in 0..share {
                let t = Instant::now();
                // One pipelined round trip for the envelope, one for the data.
                client.write("MAIL FROM:<load@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n").await.unwrap();
                for _ in 0..3 {
                    client.reply().await.unwrap();
                }
                let reply = client.cmd(&body).await.unwrap();
                assert!(reply.starts_with("250"), "{reply}");
                latencies.push(t.elapsed());
            }
            client.cmd("QUIT\r\n").await.unwrap();
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(messages);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let accept_time = start.elapsed();
    while sink.received().len() < messages {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered_after = start.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Figures { accept_time, p50: pct(0.50), p99: pct(0.99), delivered_after }
}

/// A 10 KB message with ordinary headers, terminated for DATA.
fn message_10k() -> String {
    let mut m = String::from(
        "From: Load <load@sender.test>\r\nTo: bob@example.com\r\nSubject: benchmark\r\nMessage-ID: <b@sender.test>\r\n\r\n",
    );
    let line = "The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() < 10 * 1024 {
        m.push_str(line);
    }
    m.push_str(".\r\n");
    m
}
