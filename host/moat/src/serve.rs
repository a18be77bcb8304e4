//! `moat serve`: opens the store, the message store and TLS, binds the listeners, runs the queue manager, and
//! shuts down cleanly on SIGINT/SIGTERM.

use crate::config::Config;
use anyhow::Context;
use moat_chains::{Chains, HickoryDns, Registry};
use moat_directory::Directory;
use moat_filter::FilterEngine;
use moat_smtp::inbound::authentication::Authenticator;
use moat_smtp::inbound::listener::Role;
use moat_smtp::{Listener, Metrics, Queue, QueueManager, SmtpContext, tls};
use moat_store::{Durability, Store};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The filter control plane of this process (serve, or one CLI command): one engine whose plugins compile
/// once into `DATA_DIR/plugin-cache`, DNS for the zones chains grant. Must be called inside the runtime.
pub(crate) fn chains(config: &Config, store: &Store) -> anyhow::Result<Chains> {
    let engine = FilterEngine::new(Some(config.server.data_dir.join("plugin-cache")), config.filters.limits())?;
    let dns = match HickoryDns::new(config.dns.nameserver) {
        Ok(dns) => Some(Arc::new(dns) as Arc<dyn moat_filter::Resolver>),
        Err(e) => {
            tracing::warn!("plugins get no DNS: {e}");
            None
        }
    };
    Ok(Chains::new(store.clone(), Arc::new(Registry::new(engine)), dns))
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing();
    let data_dir = &config.server.data_dir;
    crate::data_dir::prepare(data_dir)?;
    let keyring = Arc::new(moat_directory::Keyring::load_or_create(data_dir)?);
    let durability = if config.spool.fsync { Durability::Full } else { Durability::None };
    let store = Store::open(&config.database_url(), durability).await?;
    let bodies = config.bodies(&store)?;
    let adopted = moat_bodies::adopt_legacy_spool(&config.spool_dir(), &store, bodies.as_ref())
        .await
        .context("cannot move an older install's spool into the message store")?;
    if adopted > 0 {
        tracing::info!(adopted, store = bodies.kind(), "moved an older install's messages into the message store");
    }
    let leases = moat_smtp::outbound::Leases { owner: config.node().to_owned(), duration: config.cluster.lease };
    let node = crate::node::Node::start(&store, config.node(), leases.renew_every()).await?;
    let hostname = config.server.hostname.clone();

    let (acceptor, tls_note) = match (&config.smtp.tls_certificate, &config.smtp.tls_key) {
        (Some(cert), Some(key)) => (tls::acceptor_from_files(cert, key)?, format!("certificate {}", cert.display())),
        _ => {
            let dir = data_dir.join("tls");
            let (acceptor, generated) = tls::self_signed_acceptor(&dir, &hostname)?;
            let verb = if generated { "generated" } else { "kept" };
            (acceptor, format!("a self-signed certificate {verb} in {}", dir.display()))
        }
    };

    let metrics = Metrics::default();
    let queue = Queue::new(store.clone(), bodies.clone(), &hostname, config.delivery.max_age, metrics.clone())
        .keeping_copies(config.retention.message_copies);
    let outbox: Arc<dyn moat_directory::Notifier> = Arc::new(moat_smtp::queue::notices::Outbox::start(queue.clone()));
    let console_url = config.console.public_url.clone().unwrap_or_else(|| format!("http://{}/", config.console.listen));
    let directory =
        Directory::new(store.clone()).with_notifier(outbox).with_console_url(&console_url).with_keyring(keyring);
    let sealed = directory.seal_stored_secrets().await?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} secret(s) stored in clear by an earlier version");
    }
    let directory = crate::commands::with_callout(&config, directory)?;
    let interrupted = store.import_jobs_interrupt(now()).await?;
    if interrupted > 0 {
        tracing::warn!("{interrupted} user import(s) were interrupted by the last stop; import those files again");
    }
    let senders = Arc::new(moat_smtp::outbound::senders::Senders::new(store.clone(), config.submission.clone()));
    let destinations = config.destinations();
    let manager = QueueManager::new(
        queue.clone(),
        config.delivery.clone(),
        leases.clone(),
        destinations,
        metrics.clone(),
        senders.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    manager.recover().await?;

    let authenticator =
        match config.filters.authentication.then(|| Authenticator::new(config.dns.nameserver, &hostname)) {
            Some(Ok(authenticator)) => Some(authenticator),
            Some(Err(e)) => {
                tracing::warn!("SPF, DKIM and DMARC are not checked: {e}");
                None
            }
            None => None,
        };
    let filters = Arc::new(chains(&config, &store)?);
    if config.filters.builtin {
        crate::builtin::install(filters.registry(), &store).await.context("cannot register the built-in filters")?;
    }
    filters.reload().await.context("cannot load the filter chains")?;
    let ctx = Arc::new(SmtpContext {
        config: config.smtp.clone(),
        directory: directory.clone(),
        queue: queue.clone(),
        tls: Some(acceptor),
        metrics: metrics.clone(),
        filters: filters.clone(),
        run_slots: match config.filters.concurrent_runs {
            Some(count) => moat_chains::RunSlots::new(count),
            None => moat_chains::RunSlots::for_this_machine(),
        },
        lessons: moat_chains::LessonBudget::new(config.filters.lessons_per_second),
        authenticator,
        dkim: moat_smtp::outbound::dkim::Signer::new(directory.clone()),
        senders,
    });
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(filters.clone().follow(
        config.filters.reload_interval,
        config.filters.storage_entries,
        stopped.clone(),
    )));
    for addr in &config.smtp.listen {
        let socket = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let listener = Listener::new(socket, Role::Mx, ctx.clone());
        println!("Moat is listening for mail on {} (STARTTLS with {tls_note})", listener.local_addr()?);
        tasks.push(tokio::spawn(listener.run(stopped.clone())));
    }
    // The ports bound (the configured ones, or what port 0 got): the console tells admins these.
    let (mut submission_ports, mut submission_tls_ports) = (Vec::new(), Vec::new());
    for (addr, implicit) in config
        .submission
        .listen
        .iter()
        .map(|a| (a, false))
        .chain(config.submission.listen_tls.iter().map(|a| (a, true)))
    {
        let socket = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (submission)"))?;
        let listener = Listener::new(socket, Role::Submission, ctx.clone());
        let (listener, how) = if implicit { (listener.implicit_tls(), "implicit TLS") } else { (listener, "STARTTLS") };
        let bound = listener.local_addr()?;
        if implicit { &mut submission_tls_ports } else { &mut submission_ports }.push(bound.port());
        println!("Moat is listening for submissions on {bound} ({how}, then AUTH)");
        tasks.push(tokio::spawn(listener.run(stopped.clone())));
    }
    let admin = TcpListener::bind(config.admin.listen)
        .await
        .with_context(|| format!("cannot listen on {} (admin)", config.admin.listen))?;
    println!("Metrics at http://{}/metrics", admin.local_addr()?);
    tasks.push(tokio::spawn(crate::metrics_http::serve(admin, metrics, stopped.clone())));
    tasks.push(tokio::spawn(manager.clone().renew_leases(stopped.clone())));
    tasks.push(tokio::spawn(manager.run(stopped.clone())));
    tasks.push(tokio::spawn(node.beat(stopped.clone())));
    if !config.quarantine.digest_every.is_zero() {
        let digests = crate::digests::run(directory.clone(), config.quarantine.digest_every, stopped.clone());
        tasks.push(tokio::spawn(digests));
    }
    tasks.push(tokio::spawn(crate::directory_sync::run(directory.clone(), stopped.clone())));
    let retention = crate::retention::run(store.clone(), bodies.clone(), config.retention.clone(), stopped.clone());
    tasks.push(tokio::spawn(retention));
    tasks.push(tokio::spawn(checkpoints(store.clone(), stopped.clone())));
    let console = TcpListener::bind(config.console.listen)
        .await
        .with_context(|| format!("cannot listen on {} (console)", config.console.listen))?;
    println!("Console and REST API at http://{}/", console.local_addr()?);
    let gateway = crate::console::ConsoleGateway {
        config: config.clone(),
        store: store.clone(),
        queue,
        filters: filters.clone(),
        dns: HickoryDns::new(config.dns.nameserver).map_err(|e| tracing::warn!("Get SMTP is off: {e}")).ok(),
    };
    let publishing = moat_console::Publishing {
        mx_hosts: if config.console.mx_hosts.is_empty() {
            vec![hostname.clone()]
        } else {
            config.console.mx_hosts.clone()
        },
        ip_ranges: config.console.ip_ranges.clone(),
        smart_host: config.console.smart_host.clone().unwrap_or_else(|| hostname.clone()),
        submission_ports,
        submission_tls_ports,
        gaps: config.setup_gaps(),
    };
    let mut state = moat_console::AppState::new(store.clone(), directory, bodies)
        .with_gateway(Arc::new(gateway))
        .with_publishing(publishing);
    state.secure_cookies = config.console.secure_cookies;
    let router = moat_console::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let mut console_stop = stopped.clone();
    tasks.push(tokio::spawn(async move {
        let shutdown = async move {
            let _ = console_stop.changed().await;
        };
        if let Err(e) = axum::serve(console, router).with_graceful_shutdown(shutdown).await {
            tracing::error!("console stopped: {e}");
        }
    }));

    if store.admin_list().await?.is_empty() {
        println!(
            "No console account exists yet. Make the first one:\n  \
             echo 'A_long.passw0rd' | moat admin add root --password-stdin --email you@example.com"
        );
    }
    let domains = store.domain_list(None).await?;
    if domains.is_empty() {
        println!(
            "No domain is protected yet, so every recipient is refused. Next step:\n  \
             moat domain add example.com --downstream mail.example.com:25:10\n  \
             moat mailbox add alice@example.com"
        );
    } else {
        println!("Protecting {} domain(s).", domains.len());
    }

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    }
    filters.flush_storage().await;
    store.close().await;
    Ok(())
}

use moat_store::unix_now as now;

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("MOAT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Checkpoints SQLite's write-ahead log every second until `stop` turns true, so commits never pay for one
/// (see [`Store::checkpoint`]).
async fn checkpoints(store: Store, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = store.checkpoint().await {
            tracing::warn!("cannot checkpoint the database's write-ahead log: {e}");
        }
    }
}
