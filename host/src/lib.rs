//! KubeStellar with WebAssembly customization plugins: the host library behind the
//! `kubestellar` binary (CLI, plugin runtime, controllers, agent).

pub mod cli;
pub mod plugins;
