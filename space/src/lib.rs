//! An embedded Kubernetes-API-compatible server (a "space"): discovery, CRUD, list/watch, CRDs,
//! patches, subresources, lifecycle controllers, on a durable embedded store, plus a workload
//! simulator that makes a space behave like a cluster running workloads.

pub mod crd;
pub mod defaults;
pub mod error;
mod handlers;
pub mod jsonpath;
pub mod kubeconfig;
pub mod lifecycle;
pub mod metrics;
pub mod objects;
pub mod registry;
pub mod request;
pub mod security;
pub mod server;
pub mod simulator;
pub mod space;
pub mod store;
pub mod table;

pub use handlers::router;
pub use security::Security;
pub use server::{RunningSpace, ServeError, start};
pub use space::{OpenError, Space, SpaceConfig};
pub use store::{EtcdConfig, StoreConfig};
