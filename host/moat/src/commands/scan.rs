//! `moat scan` and `moat learn`: a tenant's chain over message files, without SMTP — to check what the
//! gateway would do with a mailbox export, and to train the learning filters on an admin's spam and ham.

use super::open_store;
use crate::config::Config;
use anyhow::{Context, bail};
use moat_filter::{Chain, ConnectionFacts, Content, Label, MessageFacts, ParsedMessage, RecipientFacts, Stage};
use moat_store::{DEFAULT_TENANT, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// One message to judge or learn: where it came from, and its bytes.
pub struct Item {
    pub source: String,
    pub raw: Vec<u8>,
}

/// Every message under `paths`: `.eml`-style files, directories of them (not recursive), and mbox files
/// (a file whose first line starts with `From `).
pub fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<Item>> {
    let mut items = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            for file in files {
                read_file(&file, &mut items)?;
            }
        } else {
            read_file(path, &mut items)?;
        }
    }
    Ok(items)
}

fn read_file(path: &Path, items: &mut Vec<Item>) -> anyhow::Result<()> {
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if raw.starts_with(b"From ") {
        for (i, message) in split_mbox(&raw).into_iter().enumerate() {
            items.push(Item { source: format!("{}#{}", path.display(), i + 1), raw: message });
        }
    } else {
        items.push(Item { source: path.display().to_string(), raw });
    }
    Ok(())
}

/// Splits an mbox (mboxrd: `>From ` lines unquoted) into messages with CRLF line ends.
fn split_mbox(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"From ") {
            messages.extend(current.take());
            current = Some(Vec::new());
            continue;
        }
        if let Some(message) = current.as_mut() {
            let quotes = line.iter().take_while(|b| **b == b'>').count();
            let unquoted = if quotes > 0 && line[quotes..].starts_with(b"From ") { &line[1..] } else { line };
            message.extend_from_slice(unquoted);
            message.extend_from_slice(b"\r\n");
        }
    }
    messages.extend(current);
    messages
}

/// A message file parsed once, with the envelope it implies: sender from From, recipients from To, all in
/// `tenant`.
fn parsed(item: &Item, tenant: &str) -> Arc<ParsedMessage> {
    let content = Arc::new(Content::parse(item.raw.clone()));
    let facts = MessageFacts {
        sender: content.from_address().unwrap_or_default().to_owned(),
        recipients: content
            .to_addresses()
            .iter()
            .map(|address| {
                let domain = address.rsplit_once('@').map(|(_, d)| d.to_lowercase()).unwrap_or_default();
                RecipientFacts { mailbox: address.clone(), address: address.clone(), tenant: tenant.to_owned(), domain }
            })
            .collect(),
        // No SMTP client: no address for reputation to count.
        connection: ConnectionFacts::default(),
        ..MessageFacts::default()
    };
    ParsedMessage::new(content, facts)
}

/// The live chain of `tenant` (its own, else the default), as the server would run it.
pub async fn chain_of(config: &Config, store: &Store, tenant: Option<&str>) -> anyhow::Result<(Arc<Chain>, String)> {
    let filters = crate::serve::chains(config, store)?;
    if config.filters.builtin {
        crate::builtin::install(filters.registry(), store).await?;
    }
    let tenant_id = match tenant {
        None => DEFAULT_TENANT,
        Some(name) => store.tenant_by_name(name).await?.ok_or_else(|| anyhow::anyhow!("no tenant {name}"))?.id,
    };
    filters.reload().await?;
    let selected = filters.select(moat_store::Direction::Inbound, tenant_id, "");
    if selected.chain.is_empty() {
        bail!("tenant {} has no filter chain (moat chain show)", selected.tenant_name);
    }
    Ok((selected.chain, selected.tenant_name))
}

/// Runs `work` over `items` on every core; results come back in input order.
pub fn parallel<T: Send>(items: &[Item], work: impl Fn(&Item) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut results: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, work(item)));
                    }
                    done
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("scan worker")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, t)| t).collect()
}

pub async fn scan(
    config: &Config,
    paths: &[PathBuf],
    tenant: Option<&str>,
    json: bool,
    learn: bool,
) -> anyhow::Result<()> {
    // Learning writes what each lesson taught without an fsync, as `moat learn` does.
    let store = if learn {
        super::open_store_with(config, moat_store::Durability::None).await?
    } else {
        open_store(config).await?
    };
    let (chain, tenant_name) = chain_of(config, &store, tenant).await?;
    let items = collect(paths)?;
    let judge = |item: &Item| {
        let message = parsed(item, &tenant_name);
        let mut eval = moat_filter::Evaluation::default();
        chain.run(Stage::Message(&message), &mut eval);
        let outcome = eval.outcome(&chain.thresholds);
        if learn {
            chain.teach(&message, &chain.lessons(&eval, &outcome));
        }
        let symbols: Vec<&str> = eval.symbol_names();
        if json {
            let details: Vec<_> = eval
                .entries
                .iter()
                .filter(|e| !e.shadow)
                .flat_map(|e| e.symbols.iter().map(move |s| (e, s)))
                .map(|(e, s)| serde_json::json!({"plugin": e.plugin, "name": s.name, "score": s.score, "reason": s.reason}))
                .collect();
            serde_json::json!({
                "path": item.source,
                "action": outcome.as_str(),
                "score": (eval.score * 100.0).round() / 100.0,
                "symbols": symbols,
                "details": details,
            })
            .to_string()
        } else {
            format!("{}\t{}\t{:.2}\t{}", item.source, outcome.as_str(), eval.score, symbols.join(","))
        }
    };
    // The first message alone: it loads what the chain keeps in memory (a trained classifier's table), so the
    // rate of the rest is the rate of a running chain.
    let started = Instant::now();
    let (first, rest) = items.split_first().map_or((None, &items[..]), |(first, rest)| (Some(first), rest));
    let mut lines: Vec<String> = first.map(|item| tokio::task::block_in_place(|| judge(item))).into_iter().collect();
    let first_took = started.elapsed();
    let (steady_started, cpu_before) = (Instant::now(), cpu_time());
    // Lessons change the next message's verdict: in order, one at a time, so a run is repeatable.
    lines.extend(tokio::task::block_in_place(|| {
        if learn { rest.iter().map(judge).collect() } else { parallel(rest, judge) }
    }));
    let steady = steady_started.elapsed();
    let cpu = cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    for line in &lines {
        println!("{line}");
    }
    let mut report = format!(
        "scanned {} message(s) in {:.2} s (the first, which loads the chain's learned data, in {:.2} s)",
        items.len(),
        started.elapsed().as_secs_f64(),
        first_took.as_secs_f64()
    );
    if !rest.is_empty() {
        report.push_str(&format!("; the rest at {:.0} msgs/s", rest.len() as f64 / steady.as_secs_f64().max(1e-9)));
        if let Some(cpu) = cpu {
            report.push_str(&format!(", {:.0} µs CPU per message", cpu.as_secs_f64() * 1e6 / rest.len() as f64));
        }
    }
    eprintln!("{report}");
    Ok(())
}

/// CPU time the process has used, user and system, every thread (Linux: `/proc/self/stat`, in USER_HZ
/// ticks of 10 ms); `None` elsewhere.
fn cpu_time() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which may hold spaces and ends at the last `)`: utime and stime
    // are the 14th and 15th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(std::time::Duration::from_millis(ticks * 10))
}

/// Learns messages into `tenant`'s plugins, or with `global` into the storage they share across tenants.
pub async fn learn(
    config: &Config,
    spam: &[PathBuf],
    ham: &[PathBuf],
    tenant: Option<&str>,
    global: bool,
) -> anyhow::Result<()> {
    if spam.is_empty() && ham.is_empty() {
        bail!("nothing to learn: give --spam PATH and/or --ham PATH");
    }
    // One commit per learned message: without an fsync each, learning thousands takes seconds, not minutes.
    // A crash mid-way loses some counts, and learning is simply run again.
    let store = super::open_store_with(config, moat_store::Durability::None).await?;
    let (chain, tenant_name) = chain_of(config, &store, tenant).await?;
    let calls: Vec<_> = chain
        .entries
        .iter()
        .filter(|e| !e.shadow)
        .map(|e| {
            let mut call = e.call.clone();
            if global && let Some(kv) = call.capabilities.kv.as_mut() {
                kv.namespace = kv.shared.clone();
            }
            (e, call)
        })
        .collect();
    let started = Instant::now();
    let mut learned = Vec::new();
    for (label, paths) in [(Label::Spam, spam), (Label::Ham, ham)] {
        let items = collect(paths)?;
        let failures: usize = tokio::task::block_in_place(|| {
            parallel(&items, |item| {
                let message = parsed(item, &tenant_name);
                calls.iter().filter(|(e, call)| e.plugin.learn(&message, label, call).result.is_err()).count()
            })
            .into_iter()
            .sum()
        });
        if failures > 0 {
            eprintln!("warning: {failures} plugin call(s) failed while learning {label:?}; see the log");
        }
        learned.push(items.len());
    }
    let whose = if global { "every tenant (global base)".to_string() } else { format!("tenant {tenant_name}") };
    println!(
        "Learned {} spam and {} ham message(s) for {whose} in {:.1} s.",
        learned[0],
        learned[1],
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_messages_are_split_and_unquoted() {
        let mbox = b"From a@x Mon Nov 23 00:00:00 2026\nSubject: one\n\n>From the start\n>>From twice\n\n\
                     From b@y Mon Nov 23 00:00:01 2026\nSubject: two\n\nbody\n";
        let messages = split_mbox(mbox);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0], b"Subject: one\r\n\r\nFrom the start\r\n>From twice\r\n\r\n");
        assert_eq!(messages[1], b"Subject: two\r\n\r\nbody\r\n\r\n");
    }
}
