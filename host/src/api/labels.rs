//! Well-known labels, annotations, finalizers and names (spec section 2.10).

/// Annotation on a WDS object: expand Go templates per WEC.
pub const EXPAND_TEMPLATES: &str = "control.kubestellar.io/expand-templates";
/// ITS namespace holding a ConfigMap of customization properties per WEC.
pub const CUSTOMIZATION_PROPERTIES_NS: &str = "customization-properties";
/// Label on a WDS object while its singleton status is returned.
pub const SINGLETON_STATUS: &str = "managed-by.kubestellar.io/singletonstatus";
/// Label on a WDS object while its multi-WEC aggregated status is returned.
pub const MULTIWEC_STATUS: &str = "managed-by.kubestellar.io/multiwecstatus";
/// Label on a WDS object: the number of WECs it is delivered to (our decision 1).
pub const EXECUTING_COUNT: &str = "kubestellar.io/executing-count";
/// Finalizer on a BindingPolicy.
pub const BINDING_POLICY_FINALIZER: &str = "bindingpolicy.kubestellar.io/kscontroller";
/// Finalizer on a Binding (transport removes its ManifestWorks first).
pub const BINDING_FINALIZER: &str = "transport.kubestellar.io/object-cleanup";
/// Label on a ManifestWork: its owning Binding's name.
pub const ORIGIN_BINDING: &str = "transport.kubestellar.io/originOwnerReferenceBindingKey";
/// Label on a ManifestWork (copied to WorkStatus): the WDS it comes from.
pub const ORIGIN_WDS: &str = "transport.kubestellar.io/originWdsName";
/// Annotation on a ManifestWork: the Binding generation it was rendered from.
pub const ORIGIN_BINDING_GENERATION: &str =
    "transport.kubestellar.io/originOwnerReferenceBindingGeneration";
/// WDS namespace for CombinedStatus of cluster-scoped objects.
pub const REPORT_NS: &str = "kubestellar-report";
/// Finalizer an agent puts on each ManifestWork it applies, so that it can remove what it
/// applied before the ManifestWork disappears (OCM's name).
pub const MANIFESTWORK_CLEANUP_FINALIZER: &str =
    "cluster.open-cluster-management.io/manifest-work-cleanup";
/// CombinedStatus labels.
pub const CS_API_GROUP: &str = "status.kubestellar.io/api-group";
/// CombinedStatus label: resource.
pub const CS_RESOURCE: &str = "status.kubestellar.io/resource";
/// CombinedStatus label: namespace.
pub const CS_NAMESPACE: &str = "status.kubestellar.io/namespace";
/// CombinedStatus label: name.
pub const CS_NAME: &str = "status.kubestellar.io/name";
/// CombinedStatus label: BindingPolicy name.
pub const CS_BINDING_POLICY: &str = "status.kubestellar.io/binding-policy";
/// Annotation the agent puts on every object it applies in a WEC: the sha256 of the manifest
/// it applied. A changed manifest (even one that only drops fields) has a different hash, so
/// the agent re-applies it; an unchanged one is left alone, also across agent restarts.
pub const APPLIED_MANIFEST_HASH: &str = "kubestellar.io/applied-manifest-sha256";
/// Annotation on a Service: keep node ports.
pub const PRESERVE: &str = "control.kubestellar.io/preserve";
/// Label on every upsync mirror in the WDS (value: the WEC it comes from). Objects carrying
/// it are never downsynced (so a mirror cannot travel back down and loop).
pub const UPSYNC_MIRROR: &str = "upsync.kubestellar.io/mirror";
/// Label on an upsync mirror: the first (sorted) BindingPolicy selecting its source.
pub const UPSYNC_POLICY: &str = "upsync.kubestellar.io/policy";
/// Annotation on an upsync mirror: every BindingPolicy selecting its source, comma-separated.
pub const UPSYNC_POLICIES: &str = "upsync.kubestellar.io/policies";
/// Annotation on an upsync mirror: the WEC its source lives in.
pub const UPSYNC_ORIGIN_CLUSTER: &str = "upsync.kubestellar.io/origin-cluster";
/// Annotation on an upsync mirror: its source's name in the WEC.
pub const UPSYNC_ORIGIN_NAME: &str = "upsync.kubestellar.io/origin-name";
/// Label on an UpsyncedObject: the WEC its source lives in.
pub const UPSYNC_CLUSTER: &str = "upsync.kubestellar.io/cluster";
/// Label on a CombinedStatus summarizing the upsynced copies of one object (value `true`).
pub const UPSYNC_SUMMARY: &str = "upsync.kubestellar.io/summary";
