//! Internal to `kubestellar-plugin-sdk`: the guest bindings of the `summarizer` world of
//! `wit/plugin.wit`, plus the `types` and `host` interfaces both worlds share. Empty natively.
#![cfg(target_arch = "wasm32")]
#![doc(hidden)]

wit_bindgen::generate!({
    world: "summarizer",
    path: "../../../wit",
    pub_export_macro: true,
    export_macro_name: "export_summarizer_world",
});
