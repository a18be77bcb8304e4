//! Host bindings generated from `wit/`: the current `moat:filter` version and each released one still
//! loaded. Both map the `message` resource to [`crate::message::MessageView`]; [`crate::wit`] implements
//! them.

pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "filter",
        with: { "moat:filter/types.message": crate::message::MessageView },
        imports: { default: trappable },
    });
}

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "filter",
        with: { "moat:filter/types.message": crate::message::MessageView },
        imports: { default: trappable },
    });
}

/// A plugin ready to instantiate, of the version it was built against.
pub enum FilterPre {
    V0_2(v0_2::FilterPre<crate::host::HostState>),
    V0_1(v0_1::FilterPre<crate::host::HostState>),
}

/// An instance of a plugin.
pub enum Filter {
    V0_2(v0_2::Filter),
    V0_1(v0_1::Filter),
}

impl FilterPre {
    /// Which version `pre` implements: the current one, else a released one; `Err` says why neither.
    pub fn new(pre: wasmtime::component::InstancePre<crate::host::HostState>) -> wasmtime::Result<Self> {
        match v0_2::FilterPre::new(pre.clone()) {
            Ok(current) => Ok(FilterPre::V0_2(current)),
            Err(current) => v0_1::FilterPre::new(pre).map(FilterPre::V0_1).map_err(|_| current),
        }
    }

    /// The `moat:filter` version the plugin was built against.
    pub fn version(&self) -> &'static str {
        match self {
            FilterPre::V0_2(_) => "0.2.0",
            FilterPre::V0_1(_) => "0.1.0",
        }
    }

    pub fn instantiate(&self, store: &mut wasmtime::Store<crate::host::HostState>) -> wasmtime::Result<Filter> {
        Ok(match self {
            FilterPre::V0_2(pre) => Filter::V0_2(pre.instantiate(store)?),
            FilterPre::V0_1(pre) => Filter::V0_1(pre.instantiate(store)?),
        })
    }
}
