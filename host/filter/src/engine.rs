//! One wasmtime engine for every plugin: fuel metering, a pooling allocator sized for concurrent messages,
//! and a disk cache of precompiled components keyed by sha256, so restarts do not recompile.

use crate::bindings::FilterPre;
use crate::host::HostState;
use crate::message::MessageView;
use crate::plugin::Plugin;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use wasmtime::component::{Component, Linker, ResourceType, types::ComponentItem};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bounds on every plugin call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel per call: ~200M stops an endless loop within milliseconds, while a 20 KiB tokenizer uses ~5M.
    pub fuel: u64,
    /// Fuel a call on a message gets on top of `fuel` for each byte of the message: the work of scanning a
    /// message grows with its size, so a fixed budget is one a large crafted message can exhaust.
    pub fuel_per_byte: u64,
    /// Wall-clock bound of one call, its DNS waits included (epoch interruption): fuel bounds computing,
    /// this bounds everything.
    pub call_timeout: Duration,
    /// Linear memory per plugin instance.
    pub memory_bytes: usize,
    /// Linear memory of every plugin instance of the process together; past it an instance cannot grow (it
    /// fails as out of memory, and its entry's fail policy decides).
    pub memory_budget_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 200_000_000,
            fuel_per_byte: DEFAULT_FUEL_PER_BYTE,
            call_timeout: Duration::from_secs(10),
            memory_bytes: 64 << 20,
            memory_budget_bytes: 1 << 30,
        }
    }
}

/// Measured: the built-in antivirus spends ~150 fuel a byte decoding and scanning a base64 attachment;
/// this leaves a wide margin while a 25 MiB message still has a finite budget.
pub const DEFAULT_FUEL_PER_BYTE: u64 = 1_000;

/// How often the engine's epoch advances: the resolution of [`Limits::call_timeout`].
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Limits {
    /// The fuel of a call on a message of `size` bytes.
    pub fn fuel_for(&self, base: u64, size: usize) -> u64 {
        base.saturating_add(self.fuel_per_byte.saturating_mul(size as u64))
    }

    /// The call timeout in epoch ticks (at least one).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("{name}: not a WebAssembly component ({reason})")]
    NotAComponent { name: String, reason: String },
    #[error("{name}: the component implements neither the moat:filter/filter@0.2.0 world nor 0.1.0: {reason}")]
    NotAFilter { name: String, reason: String },
    #[error("cannot set up the filter engine: {0}")]
    Engine(String),
}

/// Plugin instances that may run at once (one per message per plugin in flight).
pub(crate) const MAX_INSTANCES: u32 = 256;

/// Bytes of each pooled memory kept mapped between instances and reset in place (only the dirtied pages, with
/// `pagemap_scan`), instead of being unmapped: a Rust guest's 1 MiB stack and first heap pages then never
/// page-fault again. Beyond this, memory is released (`madvise`), which bounds what idle slots keep resident.
const KEEP_RESIDENT: usize = 4 << 20;

pub struct FilterEngine {
    engine: Engine,
    budget: Arc<crate::host::MemoryBudget>,
    cache_dir: Option<PathBuf>,
    limits: Limits,
}

impl FilterEngine {
    /// `cache_dir` holds precompiled components; `None` compiles on every load.
    pub fn new(cache_dir: Option<PathBuf>, limits: Limits) -> Result<Self, LoadError> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * 2)
            .total_memories(MAX_INSTANCES * 2)
            .total_tables(MAX_INSTANCES * 2)
            .max_memory_size(limits.memory_bytes)
            // A fresh instance per message would otherwise page-fault its stack and heap back in every time.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT)
            // Linux 6.7+: reset only the pages a call dirtied, instead of zeroing or unmapping the whole
            // region. Measured: 40 µs → 16 µs fixed overhead per call (see benches/calls.rs).
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // A developer's switch, not a setting: plugins' compiled functions named in /tmp/perf-PID.map, so a
        // `perf` profile of the gateway sees inside them (README, Benchmark).
        if std::env::var_os("MOAT_WASM_PERFMAP").is_some() {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        start_epoch_ticker(&engine);
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::Engine(format!("cache {}: {e}", dir.display())))?;
        }
        let budget = Arc::new(crate::host::MemoryBudget::new(limits.memory_budget_bytes));
        Ok(Self { engine, budget, cache_dir, limits })
    }

    /// The process-wide plugin memory budget and what live instances hold of it.
    pub fn memory_budget(&self) -> &crate::host::MemoryBudget {
        &self.budget
    }

    /// Compiles (or loads from the cache) and validates a plugin. A component that does not implement the
    /// `filter` world is refused with the reason.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let sha256 = crate::sha256_hex(bytes);
        let component = self.compile(name, &sha256, bytes)?;
        let not_a_filter = |e: wasmtime::Error| LoadError::NotAFilter { name: name.into(), reason: format!("{e:#}") };
        let linker = self.linker(&component).map_err(not_a_filter)?;
        let pre = linker.instantiate_pre(&component).map_err(not_a_filter)?;
        let pre = FilterPre::new(pre).map_err(not_a_filter)?;
        let about = crate::about::read(bytes);
        Ok(Plugin::new(name.into(), sha256, pre, self.engine.clone(), self.limits, self.budget.clone(), about))
    }

    fn compile(&self, name: &str, sha256: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        // The name says which engine settings the artifact needs (wasmtime 48, epoch interruption): an
        // artifact of other settings would only be refused and rewritten.
        let cached = self.cache_dir.as_ref().map(|d| d.join(format!("{sha256}.w48e.cwasm")));
        if let Some(path) = cached.as_ref().filter(|p| p.exists()) {
            // SAFETY: the file is one this engine wrote itself into Moat's own cache directory, named by the
            // sha256 of its source; wasmtime also refuses artifacts built with other settings or versions.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(plugin = name, "recompiling: cached artifact unusable: {e:#}"),
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::NotAComponent { name: name.into(), reason: format!("{e:#}") })?;
        if let Some(path) = cached
            && let Ok(artifact) = component.serialize()
        {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, artifact).and_then(|_| std::fs::rename(&tmp, &path)).is_err() {
                tracing::warn!(plugin = name, "cannot cache the compiled plugin in {}", path.display());
            }
        }
        Ok(component)
    }

    /// The `moat:filter` imports, plus what a Rust guest's standard library imports from WASI: a random seed
    /// (for `HashMap`) is provided; everything else (files, sockets, environment, clocks, stdio) traps.
    fn linker(&self, component: &Component) -> wasmtime::Result<Linker<HostState>> {
        let mut linker = Linker::new(&self.engine);
        use wasmtime::component::HasSelf;
        crate::bindings::v0_2::Filter::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        crate::bindings::v0_1::Filter::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let seed: Arc<(u64, u64)> = Arc::new((rand_seed(), rand_seed()));
        for (import, item) in component.component_type().imports(&self.engine) {
            // The world's `use types.{message}` also imports `message` at the root, as an alias that must be the
            // very same resource type as the one in `moat:filter/types`.
            if matches!(item.ty, ComponentItem::Resource(_)) && import == "message" {
                linker.root().resource("message", ResourceType::host::<MessageView>(), |_, _| Ok(()))?;
            }
            if import.starts_with("wasi:random/insecure-seed@")
                && matches!(item.ty, ComponentItem::ComponentInstance(_))
            {
                let seed = seed.clone();
                linker.instance(import)?.func_wrap("insecure-seed", move |_store, (): ()| Ok((*seed,)))?;
            }
        }
        linker.define_unknown_imports_as_traps(component)?;
        Ok(linker)
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] for as long as the engine lives, so every store's epoch
/// deadline is wall-clock time.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let started = std::thread::Builder::new().name("moat-filter-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(EPOCH_TICK);
        }
    });
    if let Err(e) = started {
        // Without the ticker no call ever reaches its deadline: fuel still bounds computing.
        tracing::error!("cannot start the plugin deadline ticker: {e}");
    }
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    h.finish()
}
