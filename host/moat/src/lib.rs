//! The `moat` binary: CLI, configuration, and the wiring of the parts. Business logic lives in the crates it
//! wires; what is here is glue.

mod builtin;
mod cli;
mod commands;
pub mod config;
mod console;
mod data_dir;
mod digests;
mod directory_sync;
mod metrics_http;
mod node;
mod retention;
mod serve;

pub use cli::main;
