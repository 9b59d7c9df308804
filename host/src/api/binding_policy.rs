//! BindingPolicy: which objects (downsync clauses) go to which WECs (cluster selectors).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

use super::Condition;

/// `BindingPolicy.spec`
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "control.kubestellar.io",
    version = "v1alpha1",
    kind = "BindingPolicy",
    plural = "bindingpolicies",
    shortname = "bp",
    status = "BindingPolicyStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BindingPolicySpec {
    /// A WEC is selected iff its ManagedCluster's labels match any selector; none selects none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_selectors: Vec<LabelSelector>,
    /// An object is selected iff it matches at least one clause.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downsync: Vec<DownsyncPolicyClause>,
    /// Objects in the selected WECs to copy back into the WDS (see [`UpsyncPolicyClause`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsync: Vec<UpsyncPolicyClause>,
}

/// One upsync clause: objects of the selected WECs that match it are mirrored into the ITS
/// (as `UpsyncedObject`s) and from there into the WDS. Every given criterion must hold, with
/// the rules of [`DownsyncObjectTest`]. Secrets match only when `allowSecrets` is true.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpsyncPolicyClause {
    /// `None` matches every group; `""` is the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_names: Vec<String>,
    /// Opt-in: without it, core `secrets` never match this clause (even through `"*"`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_secrets: bool,
    /// StatusCollectors summarizing the copies of each matching object across WECs into one
    /// CombinedStatus per (policy, object), as downsync clauses name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_collectors: Vec<String>,
}

impl UpsyncPolicyClause {
    /// The same predicate as a downsync object test (no namespace selectors).
    pub fn test(&self) -> DownsyncObjectTest {
        DownsyncObjectTest {
            api_group: self.api_group.clone(),
            resources: self.resources.clone(),
            namespaces: self.namespaces.clone(),
            namespace_selectors: Vec::new(),
            object_selectors: self.object_selectors.clone(),
            object_names: self.object_names.clone(),
        }
    }
}

/// One downsync clause: a predicate on objects and how to downsync what matches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownsyncPolicyClause {
    #[serde(flatten)]
    pub test: DownsyncObjectTest,
    #[serde(flatten)]
    pub modulation: DownsyncModulation,
}

/// The object predicate of a clause; every given criterion must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownsyncObjectTest {
    /// `None` matches every group; `""` is the core group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_selectors: Vec<LabelSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_names: Vec<String>,
}

/// How matched objects are downsynced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownsyncModulation {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status_collectors: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub want_singleton_reported_state: bool,
    #[serde(
        default,
        rename = "wantMultiWECReportedState",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub want_multi_wec_reported_state: bool,
}

impl DownsyncModulation {
    /// Merges another matching clause's modulation (OR for flags, union for collectors).
    pub fn add(&mut self, other: &DownsyncModulation) {
        self.create_only |= other.create_only;
        self.want_singleton_reported_state |= other.want_singleton_reported_state;
        self.want_multi_wec_reported_state |= other.want_multi_wec_reported_state;
        for c in &other.status_collectors {
            if !self.status_collectors.contains(c) {
                self.status_collectors.push(c.clone());
            }
        }
        self.status_collectors.sort();
    }
}

/// `BindingPolicy.status`
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub observed_generation: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Upsync problems (written by the upsync controller under its own field manager): bad
    /// clauses, objects too large for the ITS or refused by the WDS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upsync_errors: Vec<String>,
}
