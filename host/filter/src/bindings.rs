//! Host bindings generated from `wit/`. The `message` resource is backed by [`crate::message::MessageView`].

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "filter",
    with: { "moat:filter/types.message": crate::message::MessageView },
    imports: { default: trappable },
});
