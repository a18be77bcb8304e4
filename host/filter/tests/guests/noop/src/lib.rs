//! Overrides nothing: every hook is the SDK's default. Measures the runtime's fixed cost per call.
use moat_sdk::{Filter, export_filter};

struct Noop;

impl Filter for Noop {}

export_filter!(Noop);
