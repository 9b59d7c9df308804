//! The kubectl acceptance checks (the `kubectl_*` test files, included unchanged) run against
//! spaces stored in etcd: in this test binary every `TestSpace` is two space servers sharing a
//! fresh etcd (Debian's `/usr/bin/etcd`), and each check talks to one of them, alternately the
//! first and the second started (see `support::ON_ETCD`).

#[path = "kubectl_crd.rs"]
mod kubectl_crd;
#[path = "kubectl_create_apply.rs"]
mod kubectl_create_apply;
#[path = "kubectl_discovery.rs"]
mod kubectl_discovery;
#[path = "kubectl_get.rs"]
mod kubectl_get;
#[path = "kubectl_lifecycle.rs"]
mod kubectl_lifecycle;
#[path = "kubectl_patch.rs"]
mod kubectl_patch;
