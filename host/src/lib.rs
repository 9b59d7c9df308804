//! KubeStellar with WebAssembly customization plugins: the host library behind the
//! `kubestellar` binary (CLI, plugin runtime, controllers, agent).

pub mod agent;
pub mod api;
pub mod bench;
pub mod binding;
pub mod cli;
pub mod clients;
pub mod cluster_health;
pub mod controller;
pub mod health;
pub mod inventory;
pub mod leader;
pub mod plugins;
pub mod secrets;
pub mod status;
pub mod system;
pub mod transport;
pub mod upsync;
