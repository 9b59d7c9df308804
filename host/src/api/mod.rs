//! API types: KubeStellar's control kinds (`control.kubestellar.io/v1alpha1`), our `WasmPlugin`,
//! and the Open Cluster Management kinds used in the ITS. One file per kind, no IO; the CRD
//! manifests live in `crds/` and are installed by [`crds::install`].

pub mod binding;
pub mod binding_policy;
pub mod combined_status;
pub mod conditions;
pub mod crds;
pub mod custom_transform;
pub mod labels;
pub mod managed_cluster;
pub mod manifest_work;
pub mod status_collector;
pub mod upsync_request;
pub mod upsynced_object;
pub mod wasm_plugin;
pub mod work_status;

pub use binding::{
    Binding, BindingSpec, BindingStatus, ClusterScopeDownsyncClause, Destination,
    DownsyncObjectClauses, NamespaceScopeDownsyncClause,
};
pub use binding_policy::{
    BindingPolicy, BindingPolicySpec, BindingPolicyStatus, DownsyncModulation, DownsyncObjectTest,
    DownsyncPolicyClause, UpsyncPolicyClause,
};
pub use combined_status::{CombinedStatus, NamedStatusCombination};
pub use conditions::Condition;
pub use custom_transform::{
    CustomTransform, CustomTransformSpec, CustomTransformStatus, PluginRef,
};
pub use managed_cluster::{ManagedCluster, ManagedClusterSpec};
pub use manifest_work::{ManifestWork, ManifestWorkSpec, ManifestWorkStatus};
pub use status_collector::{StatusCollector, StatusCollectorSpec, StatusCollectorStatus};
pub use upsynced_object::{UpsyncedObject, UpsyncedObjectSpec, UpsyncedObjectStatus};
pub use wasm_plugin::{WasmPlugin, WasmPluginSpec, WasmPluginStatus};
pub use work_status::{SourceRef, WorkStatus, WorkStatusSpec};

/// The KubeStellar control API group.
pub const CONTROL_GROUP: &str = "control.kubestellar.io";
/// Its only version.
pub const CONTROL_VERSION: &str = "v1alpha1";

/// The size of `value` as compact JSON, in bytes (what the wrapping limits of ManifestWorks and
/// upsync wrappers count), without building the text.
pub fn encoded_len(value: &impl serde::Serialize) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing API values cannot fail; were it to, the size would be too big for any limit
    // rather than wrong.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}
