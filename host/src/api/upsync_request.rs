//! The upsync request: what the upsync controller of a WDS asks the agent of one WEC to copy
//! back. A ConfigMap in the WEC's mailbox namespace of the ITS, so the agent keeps reading only
//! its own namespace (pull model):
//!
//! ```yaml
//! apiVersion: v1
//! kind: ConfigMap
//! metadata:
//!   name: upsync.<wds>                     # one per (WDS, WEC)
//!   namespace: <wec>
//!   labels:
//!     control.kubestellar.io/upsync-request: "true"
//!     transport.kubestellar.io/originWdsName: <wds>
//! data:
//!   clauses: '[{"policy": "p", "index": 0, "resources": ["configmaps"], ...}]'
//! ```
//!
//! Each entry is one `spec.upsync[index]` clause of BindingPolicy `policy` whose cluster
//! selectors select the WEC, with the clause's fields inline.

use serde::{Deserialize, Serialize};

use super::UpsyncPolicyClause;

/// Name prefix of request ConfigMaps (`upsync.<wds>`).
pub const REQUEST_PREFIX: &str = "upsync.";
/// Label on request ConfigMaps.
pub const REQUEST_LABEL: &str = "control.kubestellar.io/upsync-request";
/// The ConfigMap data key holding the clauses (JSON).
pub const CLAUSES_KEY: &str = "clauses";

/// One requested clause.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestedClause {
    /// The BindingPolicy.
    pub policy: String,
    /// Its position in `spec.upsync`.
    pub index: usize,
    /// The clause.
    #[serde(flatten)]
    pub clause: UpsyncPolicyClause,
}

/// The request ConfigMap's name for a WDS.
pub fn request_name(wds: &str) -> String {
    format!("{REQUEST_PREFIX}{wds}")
}
