//! Throughput of the mail path: N concurrent SMTP clients on loopback send messages through a real `moat`
//! process to a downstream sink, with no filters and with the default chain (its bayes layer trained with
//! `moat learn` on spam-1 + easy-ham-1 of the SpamAssassin corpus). Reports accepted messages/s, p50/p99
//! latency of one transaction (MAIL FROM to the reply after DATA), the time until every accepted message left
//! the queue, and the CPU the `moat` process spent per message (user + system from /proc, from the first
//! message until the queue is empty, so delivery is included).
//!
//! Messages are 10 KB of plain text, or real corpus mail (spam-2, easy-ham-2 and hard-ham-1, in turn: mail the
//! classifier was not trained on). Client connections come from distinct 127.x.y.1 addresses, 100 messages
//! each (the reputation layer limits messages per address and network a minute). A few warm-up messages go
//! first, so rows show the steady state. The loopback DNS answers "no such name" with an SOA, as zones do, so
//! the senders' missing SPF and DMARC records are cached as a gateway's resolver caches them. For the default
//! chain the report ends with each entry's mean wall-clock µs per call (from the email log), which shows where
//! the chain's time goes.
//!
//! The outbound rows relay as a customer's server does: STARTTLS and AUTH on the submission listener (one
//! session per 100 messages), 10 KB messages from the protected domain to an outside domain whose MX (in
//! the loopback DNS) is the sink, through the default outbound chain and DKIM-signed with RSA-2048 and
//! Ed25519; sending budgets lifted.
//!
//! `cargo bench -p moat-tests --bench throughput` (env: MOAT_BENCH_MESSAGES, default 2000;
//! MOAT_BENCH_CLIENTS, default "1,8,32"; MOAT_BENCH_CHAINS, default "none,default,outbound";
//! MOAT_TEST_POSTGRES_URL adds PostgreSQL rows; MOAT_BENCH_BIN runs another build of `moat`, for A/B runs;
//! MOAT_BENCH_SPOOL_STORE sets `[spool] store`, e.g. "filesystem", to compare message stores;
//! MOAT_BENCH_TRACE=FILE appends each message's send time, latency and size).

use moat_tests::corpus;
use moat_tests::{Backend, Client, Moat, Sink, process_cpu};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The `moat` under test (or `MOAT_BENCH_BIN`'s).
fn bin() -> String {
    moat_tests::bench_binary(env!("CARGO_BIN_EXE_moat-e2e"))
}
/// Messages per client connection (one SMTP session each).
const PER_CONNECTION: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chain {
    None,
    Default,
    /// Relayed for an authenticated customer: the default outbound chain, then DKIM signing.
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mail {
    TenKb,
    Corpus,
}

struct Row {
    backend: Backend,
    chain: Chain,
    mail: Mail,
    fsync: bool,
    clients: usize,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name).unwrap_or_else(|_| default.into()).split(',').map(|s| s.trim().to_owned()).collect()
}

async fn run() {
    let messages: usize = std::env::var("MOAT_BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let clients: Vec<usize> = env_list("MOAT_BENCH_CLIENTS", "1,8,32").iter().filter_map(|c| c.parse().ok()).collect();
    let chains = env_list("MOAT_BENCH_CHAINS", "none,default,outbound");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("MOAT_TEST_POSTGRES_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    let mut rows = Vec::new();
    for &backend in &backends {
        if chains.iter().any(|c| c == "none") {
            for fsync in [true, false] {
                for &n in &clients {
                    rows.push(Row { backend, chain: Chain::None, mail: Mail::TenKb, fsync, clients: n });
                }
            }
            let most = clients.iter().copied().max().unwrap_or(1);
            rows.push(Row { backend, chain: Chain::None, mail: Mail::Corpus, fsync: true, clients: most });
        }
        if chains.iter().any(|c| c == "default") {
            for &n in &clients {
                rows.push(Row { backend, chain: Chain::Default, mail: Mail::Corpus, fsync: true, clients: n });
            }
            let most = clients.iter().copied().max().unwrap_or(1);
            rows.push(Row { backend, chain: Chain::Default, mail: Mail::TenKb, fsync: true, clients: most });
        }
        if chains.iter().any(|c| c == "outbound") {
            for &n in &clients {
                rows.push(Row { backend, chain: Chain::Outbound, mail: Mail::TenKb, fsync: true, clients: n });
            }
        }
    }

    let data = corpus::spamassassin();
    let ten_kb = vec![moat_tests::message_10k()];
    let test_mail: Vec<Vec<u8>> = corpus::files(&data, &["spam-2", "easy-ham-2", "hard-ham-1"])
        .iter()
        .map(|f| corpus::as_smtp_data(&std::fs::read(f).unwrap()))
        .collect();
    let train = Training {
        spam: corpus::files(&data, &["spam-1"]),
        ham: corpus::files(&data, &["easy-ham-1"]),
        dir: tempfile::tempdir().unwrap(),
    };

    println!(
        "| backend | chain | mail | fsync | clients | messages | accepted msg/s | p50 ms | p99 ms | queue empty after s \
         | moat CPU ms/msg |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut profiles = Vec::new();
    for row in &rows {
        let mail = if row.mail == Mail::Corpus { &test_mail } else { &ten_kb };
        let r = once(row, messages, mail, &train).await;
        println!(
            "| {:?} | {} | {} | {} | {} | {messages} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.backend,
            match row.chain {
                Chain::None => "none",
                Chain::Default => "default",
                Chain::Outbound => "outbound + DKIM",
            },
            if row.mail == Mail::Corpus { "corpus" } else { "10 KB" },
            if row.fsync { "on" } else { "off" },
            row.clients,
            messages as f64 / r.accept_time.as_secs_f64(),
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.drained_after.as_secs_f64(),
            r.cpu.as_secs_f64() * 1000.0 / messages as f64,
        );
        if let Some(profile) = r.profile {
            profiles.push((row.clients, row.mail, profile));
        }
    }
    for (clients, mail, profile) in profiles {
        println!("\nDefault chain, {mail:?} mail, {clients} clients: mean per call of each entry");
        println!("| entry | wall-clock µs | fuel (thousands) |\n|---|---|---|");
        for (entry, Cost { micros, fuel }) in profile {
            println!("| {entry} | {micros:.0} | {:.0} |", fuel / 1000.0);
        }
    }
}

/// Where the bayes layer's training comes from.
struct Training {
    spam: Vec<std::path::PathBuf>,
    ham: Vec<std::path::PathBuf>,
    dir: tempfile::TempDir,
}

impl Training {
    fn teach(&self, moat: &Moat) {
        let spam = corpus::link_dir(&self.dir.path().join("spam"), &[]);
        let ham = corpus::link_dir(&self.dir.path().join("ham"), &[]);
        if std::fs::read_dir(&spam).unwrap().next().is_none() {
            corpus::link_dir(&spam, &self.spam.iter().collect::<Vec<_>>());
            corpus::link_dir(&ham, &self.ham.iter().collect::<Vec<_>>());
        }
        moat.admin(&["learn", "--spam", spam.to_str().unwrap(), "--ham", ham.to_str().unwrap()]);
    }
}

struct Figures {
    accept_time: Duration,
    p50: Duration,
    p99: Duration,
    drained_after: Duration,
    cpu: Duration,
    /// Mean cost per call of each chain entry, for a filtered row.
    profile: Option<BTreeMap<String, Cost>>,
}

async fn once(row: &Row, messages: usize, mail: &[Vec<u8>], train: &Training) -> Figures {
    let sink = Sink::start().await;
    let no_limit = "{ messages_per_hour = 0, recipients_per_hour = 0, messages_per_day = 0, recipients_per_day = 0 }";
    let mut builder = Moat::builder(&bin(), row.backend);
    if let Ok(store) = std::env::var("MOAT_BENCH_SPOOL_STORE") {
        builder = builder.set("spool", "store", &format!("\"{store}\""));
    }
    let moat = builder
        .set("spool", "fsync", if row.fsync { "true" } else { "false" })
        .set("smtp", "max_connections_per_ip", "1000")
        .set("smtp", "connection_rate_per_ip", "0")
        .set("filters", "builtin", if row.chain == Chain::None { "false" } else { "true" })
        .set("delivery", "mx_port", &sink.addr.port().to_string())
        .set("submission", "account_limits", no_limit)
        .set("submission", "tenant_limits", no_limit)
        .start()
        .await
        .expect("backend available");
    // Negative answers cached for five minutes, as a zone's SOA usually allows: the corpus's senders' names
    // mostly do not exist here, and a gateway's resolver would not ask again for each message.
    moat.dns.cache_negative_answers(300);
    moat.protect("example.com", &[format!("{}:{}:10", sink.addr.ip(), sink.addr.port())], &["bob"]);
    if row.chain != Chain::None {
        train.teach(&moat);
    }
    if row.chain == Chain::Outbound {
        return relay(&moat, row.clients, messages).await;
    }
    warm_up(&moat, &mail[..mail.len().min(20)]).await;
    let pid = moat.pid().expect("moat runs");
    let cpu_before = process_cpu(pid);
    let addr = moat.smtp();
    let (start, started) = (Instant::now(), std::time::SystemTime::now());
    let mut tasks = Vec::new();
    let clients = row.clients;
    for c in 0..clients {
        let share = messages / clients + usize::from(c < messages % clients);
        let mine: Vec<Vec<u8>> = (0..share).map(|i| mail[(i * clients + c) % mail.len()].clone()).collect();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(share);
            for (round, batch) in mine.chunks(PER_CONNECTION).enumerate() {
                // Each connection from its own /24, as mail from many servers looks: the reputation layer
                // limits messages per address and per network a minute.
                let source = std::net::Ipv4Addr::new(127, 1 + c as u8, round as u8, 1);
                let mut client = Client::connect_from(addr, source.into()).await.unwrap();
                client.expect("220").await.unwrap();
                client.cmd("EHLO bench.test\r\n").await.unwrap();
                for data in batch {
                    let t = Instant::now();
                    let sent_at = t - start;
                    // One pipelined round trip for the envelope, one for the data.
                    client
                        .write("MAIL FROM:<load@sender.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
                        .await
                        .unwrap();
                    let envelope =
                        [client.reply().await.unwrap(), client.reply().await.unwrap(), client.reply().await.unwrap()];
                    assert!(envelope[2].starts_with("354"), "envelope refused: {envelope:?}");
                    client.write_bytes(data).await.unwrap();
                    let reply = client.reply().await.unwrap();
                    // A filtered message may be refused (spam, virus): that is an answer, not an error.
                    assert!(reply.starts_with("250") || reply.starts_with("5"), "{reply}");
                    latencies.push((t.elapsed(), sent_at, data.len()));
                }
                client.cmd("QUIT\r\n").await.unwrap();
            }
            latencies
        }));
    }
    let mut traced = Vec::with_capacity(messages);
    for t in tasks {
        traced.extend(t.await.unwrap());
    }
    let accept_time = start.elapsed();
    queue_empty(&moat).await;
    let drained_after = start.elapsed();
    let cpu = process_cpu(pid) - cpu_before;
    if let Ok(path) = std::env::var("MOAT_BENCH_TRACE") {
        write_trace(&path, row, started, &traced);
    }
    let mut latencies: Vec<Duration> = traced.iter().map(|(latency, ..)| *latency).collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let profile = (row.chain == Chain::Default).then(|| chain_profile(&moat, messages));
    Figures { accept_time, p50: pct(0.50), p99: pct(0.99), drained_after, cpu, profile }
}

/// Appends each message's row, send time (Unix ms, to line up with moat's log), latency (ms) and size to
/// `path`: whether a row's tail is a few stalls or spread over the run shows in its time series.
fn write_trace(path: &str, row: &Row, started: std::time::SystemTime, traced: &[(Duration, Duration, usize)]) {
    use std::io::Write;
    let epoch = started.duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let mut out = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("trace file");
    let label = format!("{:?}/{:?}/{:?}/{}", row.chain, row.mail, row.backend, row.clients);
    for (latency, sent_at, size) in traced {
        let (sent, took) = ((epoch + *sent_at).as_secs_f64() * 1000.0, latency.as_secs_f64() * 1000.0);
        writeln!(out, "{label}\t{sent:.3}\t{took:.3}\t{size}").expect("trace written");
    }
}

/// The outbound rows: `clients` customer servers relaying `messages` through the submission listener.
async fn relay(moat: &Moat, clients: usize, messages: usize) -> Figures {
    let made = moat.admin(&["smtp-credential", "add", "example.com"]);
    let field = |name: &str| made.lines().find_map(|l| l.strip_prefix(name)).unwrap().trim().to_owned();
    let (user, password) = (field("username:"), field("password:"));
    for line in moat.admin(&["dkim", "rotate", "example.com"]).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        moat.dns.add(&format!("{} TXT {}", fields[0], fields[2].trim_matches('"')));
    }
    moat.dns.add("remote.test MX 10 mx.remote.test\nmx.remote.test A 127.0.0.1");
    let (addr, body) = (moat.submission_tls.unwrap(), relayed_10k());
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
    };
    let send = |count: usize| {
        let (body, auth) = (body.clone(), auth.clone());
        async move {
            let mut latencies = Vec::with_capacity(count);
            let mut left = count;
            while left > 0 {
                let batch = left.min(PER_CONNECTION);
                latencies.extend(submit_session(addr, &auth, &body, batch).await);
                left -= batch;
            }
            latencies
        }
    };
    send(20).await;
    queue_empty(moat).await;
    let pid = moat.pid().expect("moat runs");
    let cpu_before = process_cpu(pid);
    let start = Instant::now();
    let tasks: Vec<_> =
        (0..clients).map(|c| tokio::spawn(send(messages / clients + usize::from(c < messages % clients)))).collect();
    let mut latencies = Vec::with_capacity(messages);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let accept_time = start.elapsed();
    queue_empty(moat).await;
    let drained_after = start.elapsed();
    let cpu = process_cpu(pid) - cpu_before;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Figures { accept_time, p50: pct(0.50), p99: pct(0.99), drained_after, cpu, profile: None }
}

/// One submission session as a customer's server holds it: TLS from the first byte (no Nagle delay), AUTH
/// PLAIN, then `count` messages with the envelope pipelined; the latency of each.
async fn submit_session(addr: std::net::SocketAddr, auth: &str, body: &[u8], count: usize) -> Vec<Duration> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("mx.moat.test").unwrap();
    let tls = moat_smtp::tls::opportunistic_connector().connect(name, tcp).await.unwrap();
    let mut session = BufReader::new(tls);
    let mut line = String::new();
    let mut reply = async |session: &mut BufReader<_>| -> String {
        loop {
            line.clear();
            session.read_line(&mut line).await.unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.clone();
            }
        }
    };
    reply(&mut session).await;
    session.get_mut().write_all(format!("EHLO office.example.com\r\nAUTH PLAIN {auth}\r\n").as_bytes()).await.unwrap();
    reply(&mut session).await;
    let authenticated = reply(&mut session).await;
    assert!(authenticated.starts_with("235"), "{authenticated}");
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let t = Instant::now();
        let envelope = "MAIL FROM:<load@example.com>\r\nRCPT TO:<carol@remote.test>\r\nDATA\r\n";
        session.get_mut().write_all(envelope.as_bytes()).await.unwrap();
        for _ in 0..3 {
            reply(&mut session).await;
        }
        session.get_mut().write_all(body).await.unwrap();
        let accepted = reply(&mut session).await;
        assert!(accepted.starts_with("250"), "{accepted}");
        latencies.push(t.elapsed());
    }
    session.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    latencies
}

/// The 10 KB message as a customer's user sends it out: from the protected domain, to an outside one.
fn relayed_10k() -> Vec<u8> {
    let body = String::from_utf8(moat_tests::message_10k()).unwrap();
    body.replace("load@sender.test", "load@example.com").replace("bob@example.com", "carol@remote.test").into_bytes()
}

/// A few messages before the measured ones, so the rows show the steady state: plugins compiled and
/// instantiated, the classifier's tokens loaded into memory.
async fn warm_up(moat: &Moat, mail: &[Vec<u8>]) {
    let mut client = Client::connect_from(moat.smtp(), std::net::Ipv4Addr::new(127, 250, 0, 1).into()).await.unwrap();
    client.expect("220").await.unwrap();
    client.cmd("EHLO warm.bench.test\r\n").await.unwrap();
    for data in mail {
        client.cmd("MAIL FROM:<warm@sender.test>\r\n").await.unwrap();
        client.cmd("RCPT TO:<bob@example.com>\r\n").await.unwrap();
        client.cmd("DATA\r\n").await.unwrap();
        client.write_bytes(data).await.unwrap();
        client.reply().await.unwrap();
    }
    client.cmd("QUIT\r\n").await.unwrap();
    queue_empty(moat).await;
}

async fn queue_empty(moat: &Moat) {
    loop {
        let metrics = moat.metrics_text().await;
        let queued = metrics.lines().find_map(|l| l.strip_prefix("moat_queue_messages ")).map(str::trim);
        if queued == Some("0") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One entry's mean cost per call. Wall-clock time on a saturated machine holds other threads' turns; fuel
/// counts the guest's own work only (what a fresh instance builds shows here, not the machine's noise).
#[derive(Default)]
struct Cost {
    micros: f64,
    fuel: f64,
}

/// Mean cost per call of each chain entry and stage, from the last `messages` log rows' per-entry reports (a
/// connect-stage call runs once per session and shows in each of its messages' reports).
fn chain_profile(moat: &Moat, messages: usize) -> BTreeMap<String, Cost> {
    let log = moat.admin(&["log", "tail", "-n", &messages.to_string(), "--verbose"]);
    let mut total: BTreeMap<String, (Cost, usize)> = BTreeMap::new();
    for line in log.lines() {
        // "    NAME (STAGE)…  (fuel F, M µs)"
        let Some((head, timing)) = line.trim_start().rsplit_once("  (fuel ") else { continue };
        let entry = head.split([':', ';']).next().unwrap_or(head).trim().to_owned();
        let mut figures = timing.split(", ");
        let fuel: f64 = figures.next().and_then(|f| f.parse().ok()).unwrap_or(0.0);
        let micros: f64 =
            figures.next().and_then(|m| m.strip_suffix(" µs)")).and_then(|m| m.parse().ok()).unwrap_or(0.0);
        let slot = total.entry(entry).or_default();
        slot.0.micros += micros;
        slot.0.fuel += fuel;
        slot.1 += 1;
    }
    total
        .into_iter()
        .map(|(entry, (sum, calls))| {
            let calls = calls.max(1) as f64;
            (entry, Cost { micros: sum.micros / calls, fuel: sum.fuel / calls })
        })
        .collect()
}
