//! A loaded plugin and its calls: a fresh store per call from the cached `InstancePre` (or a warm instance of
//! the chain entry, see [`crate::Warm`]), a fuel budget and a memory cap, and every way a call can go wrong
//! turned into a [`Failure`].

use crate::bindings::{Filter, FilterPre};
use crate::engine::Limits;
use crate::host::{Capabilities, HostState, MemoryCap};
use crate::message::{ConnectionFacts, ParsedMessage, RecipientFacts};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, Trap};

pub struct Plugin {
    name: Arc<str>,
    sha256: String,
    pre: FilterPre,
    engine: Engine,
    limits: Limits,
    budget: Arc<crate::host::MemoryBudget>,
    /// What the plugin says about itself (its `moat:about` section), if anything.
    about: Option<crate::PluginAbout>,
    /// Per stage (connect, mail, rcpt, message): the plugin answered that it does not implement the hook.
    /// Learned at the first call, so later ones cost nothing.
    unused: [std::sync::atomic::AtomicBool; 4],
}

/// What one call of a plugin gets: its configuration, what it is granted, and its fuel.
#[derive(Clone)]
pub struct CallSetup {
    pub config: Arc<str>,
    pub capabilities: Capabilities,
    pub fuel: u64,
    /// The entry's idle instances, when it keeps them warm.
    pub warm: Option<Arc<crate::Warm>>,
}

/// The SMTP stage a plugin is asked about.
#[derive(Clone, Copy)]
pub enum Stage<'a> {
    Connect(&'a ConnectionFacts),
    MailFrom(&'a ConnectionFacts, &'a str),
    Rcpt(&'a ConnectionFacts, &'a str, &'a RecipientFacts),
    Message(&'a Arc<ParsedMessage>),
}

/// An admin's classification of a logged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Spam,
    Ham,
}

/// What a plugin asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Continue,
    Accept,
    Reject { code: u16, enhanced: String, text: String },
    Tempfail { code: u16, enhanced: String, text: String },
    Quarantine,
    Discard,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Symbol {
    pub name: String,
    pub score: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub action: Action,
    pub symbols: Vec<Symbol>,
    pub add_headers: Vec<(String, String)>,
    /// The plugin does not implement the hook that answered (see [`Plugin::implements`]).
    pub hook_unused: bool,
}

/// Why a plugin call produced no verdict. The chain's fail-open/closed policy decides what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It used its whole fuel budget (an endless loop, or far too much work).
    Timeout,
    /// It ran past its wall-clock deadline (waiting on DNS, say).
    Deadline,
    /// It tried to grow its memory past the cap.
    OutOfMemory,
    /// It trapped (a panic, an unreachable, a bad host call).
    Trap(String),
    /// No instance could be made (the instance pool is full, say).
    Instantiate(String),
    /// Not called: it failed too often in a row and its circuit breaker is open.
    Tripped,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => write!(f, "used its whole fuel budget"),
            Failure::Deadline => write!(f, "ran past its time limit"),
            Failure::OutOfMemory => write!(f, "tried to grow its memory past the cap"),
            Failure::Trap(t) => write!(f, "trapped: {t}"),
            Failure::Instantiate(e) => write!(f, "could not be instantiated: {e}"),
            Failure::Tripped => write!(f, "skipped: it failed too often in a row (circuit breaker open)"),
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Continue => write!(f, "continue"),
            Action::Accept => write!(f, "accept"),
            Action::Reject { code, enhanced, text } => write!(f, "reject {code} {enhanced} {text}"),
            Action::Tempfail { code, enhanced, text } => write!(f, "tempfail {code} {enhanced} {text}"),
            Action::Quarantine => write!(f, "quarantine"),
            Action::Discard => write!(f, "discard"),
        }
    }
}

impl Failure {
    /// The symbol the email log shows for this failure.
    pub fn symbol(&self) -> &'static str {
        match self {
            Failure::Timeout | Failure::Deadline => "PLUGIN_TIMEOUT",
            Failure::OutOfMemory => "PLUGIN_OUT_OF_MEMORY",
            Failure::Trap(_) => "PLUGIN_TRAP",
            Failure::Instantiate(_) => "PLUGIN_UNAVAILABLE",
            Failure::Tripped => "PLUGIN_TRIPPED",
        }
    }
}

/// The outcome of one call, with what it cost.
#[derive(Debug)]
pub struct Run<T> {
    pub result: Result<T, Failure>,
    pub fuel_used: u64,
    pub elapsed: Duration,
}

impl Plugin {
    pub(crate) fn new(
        name: Arc<str>,
        sha256: String,
        pre: FilterPre,
        engine: Engine,
        limits: Limits,
        budget: Arc<crate::host::MemoryBudget>,
        about: Option<crate::PluginAbout>,
    ) -> Self {
        Self { name, sha256, pre, engine, limits, budget, about, unused: Default::default() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the plugin says about itself: a summary and help on its configuration (SDK `describe!`).
    pub fn about(&self) -> Option<&crate::PluginAbout> {
        self.about.as_ref()
    }

    /// The `moat:filter` version the plugin was built against.
    pub fn wit_version(&self) -> &'static str {
        self.pre.version()
    }

    /// The sha256 of the component's bytes, its identity in the registry and the compile cache.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the plugin implements the hook of `stage` (connect 0, mail 1, rcpt 2, message 3), as far as
    /// its answers so far tell.
    pub fn implements(&self, stage: usize) -> bool {
        !self.unused[stage].load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that the hook of `stage` is not implemented (its verdict said so).
    pub fn hook_unused(&self, stage: usize) {
        self.unused[stage].store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The default fuel budget of a call, unless a chain entry sets its own.
    pub fn default_fuel(&self) -> u64 {
        self.limits.fuel
    }

    /// Asks the plugin whether `config` is acceptable; `Ok(Err(text))` is the plugin's own explanation.
    pub fn configure(&self, config: &str) -> Run<Result<(), String>> {
        let owned = config.to_owned();
        let call = self.setup(config);
        self.call(&call, move |store, filter| match filter {
            Filter::V0_2(f) => crate::wit::v0_2::configure(f, store, &owned),
            Filter::V0_1(f) => crate::wit::v0_1::configure(f, store, &owned),
        })
    }

    /// Runs one stage of the plugin.
    pub fn run(&self, stage: &Stage<'_>, call: &CallSetup) -> Run<Verdict> {
        let sized;
        let call = match stage {
            Stage::Message(parsed) => {
                sized = self.sized(call, parsed.size());
                &sized
            }
            _ => call,
        };
        self.call(call, move |store, filter| match filter {
            Filter::V0_2(f) => crate::wit::v0_2::run(f, store, stage),
            Filter::V0_1(f) => crate::wit::v0_1::run(f, store, stage),
        })
    }

    /// Runs the `on-message` stage.
    pub fn on_message(&self, message: &Arc<ParsedMessage>, call: &CallSetup) -> Run<Verdict> {
        self.run(&Stage::Message(message), call)
    }

    /// A call with `config`, nothing granted and the default fuel.
    pub fn setup(&self, config: &str) -> CallSetup {
        CallSetup { config: config.into(), capabilities: Capabilities::default(), fuel: self.limits.fuel, warm: None }
    }

    /// Feeds an admin's classification of a message to the plugin's `learn`.
    pub fn learn(&self, message: &Arc<ParsedMessage>, label: Label, call: &CallSetup) -> Run<()> {
        let call = &self.sized(call, message.size());
        self.call(call, move |store, filter| match filter {
            Filter::V0_2(f) => crate::wit::v0_2::learn(f, store, message, label),
            Filter::V0_1(f) => crate::wit::v0_1::learn(f, store, message, label),
        })
    }

    /// The call setup for a message of `size` bytes: its fuel grows with the size.
    fn sized(&self, call: &CallSetup, size: usize) -> CallSetup {
        CallSetup { fuel: self.limits.fuel_for(call.fuel, size), ..call.clone() }
    }

    fn call<R>(
        &self,
        call: &CallSetup,
        f: impl FnOnce(&mut Store<HostState>, &Filter) -> wasmtime::Result<R>,
    ) -> Run<R> {
        let started = Instant::now();
        let state = HostState {
            table: ResourceTable::new(),
            limiter: MemoryCap {
                max_bytes: self.limits.memory_bytes,
                refused: false,
                budget: self.budget.clone(),
                reserved: 0,
            },
            plugin: self.name.clone(),
            config: call.config.clone(),
            capabilities: call.capabilities.clone(),
            deadline: started + self.limits.call_timeout,
        };
        let (mut store, kept) = match call.warm.as_ref().and_then(|w| w.take()) {
            Some(warm) => {
                let mut store = warm.store;
                let mut state = state;
                // The instance keeps its memory, so it keeps what it took of the budget.
                state.limiter.reserved = std::mem::take(&mut store.data_mut().limiter.reserved);
                *store.data_mut() = state;
                (store, Some(warm.filter))
            }
            None => {
                let mut store = Store::new(&self.engine, state);
                store.limiter(|s| &mut s.limiter);
                (store, None)
            }
        };
        // set_fuel fails only when the engine does not meter fuel, which ours always does.
        let _ = store.set_fuel(call.fuel);
        store.set_epoch_deadline(self.limits.deadline_ticks());
        store.epoch_deadline_trap();
        let instance = match kept {
            Some(filter) => Ok(filter),
            None => self.pre.instantiate(&mut store).map_err(|e| Failure::Instantiate(format!("{e:#}"))),
        };
        let (result, filter) = match instance {
            Err(failure) => (Err(failure), None),
            Ok(filter) => {
                let result = f(&mut store, &filter).map_err(|e| classify(&e, store.data().limiter.refused));
                (result, Some(filter))
            }
        };
        let fuel_used = call.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        match (&result, &call.warm, filter) {
            (Err(failure), _, _) => tracing::warn!(plugin = %self.name, ?failure, fuel_used, "plugin call failed"),
            (Ok(_), Some(warm), Some(filter)) => warm.give_back(crate::warm::Instance { store, filter }),
            _ => {}
        }
        Run { result, fuel_used, elapsed: started.elapsed() }
    }
}

fn classify(error: &wasmtime::Error, memory_refused: bool) -> Failure {
    if error.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        Failure::Timeout
    } else if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        Failure::Deadline
    } else if memory_refused {
        Failure::OutOfMemory
    } else {
        Failure::Trap(format!("{error:#}").chars().take(500).collect())
    }
}

/// Header names and values a plugin adds must not smuggle extra lines into the message.
pub(crate) fn clean(s: String) -> String {
    s.replace(['\r', '\n'], " ").chars().take(998).collect()
}

/// A plugin's refusal as Moat sends it: a code and enhanced status of the refusal's `class` (4 or 5),
/// whatever the plugin wrote.
pub(crate) fn reply(code: u16, enhanced: String, text: String, class: u16) -> (u16, String, String) {
    let code = if code / 100 == class { code } else { class * 100 + 50 };
    let enhanced = if enhanced.starts_with(char::from(b'0' + class as u8)) { enhanced } else { format!("{class}.7.1") };
    (code, clean(enhanced), clean(text))
}
