//! The ITS inventory: registering a WEC (ManagedCluster, mailbox namespace, customization
//! properties) and removing it. Idempotent.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::api::labels::{CUSTOMIZATION_PROPERTIES_NS, MANIFESTWORK_CLEANUP_FINALIZER};
use crate::api::{ManagedCluster, ManifestWork};

const MANAGER: &str = "kubestellar-register";

/// Errors of inventory operations.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("invalid WEC name {0:?}: must be a lowercase RFC 1123 label (it names a namespace)")]
    BadName(String),
    #[error(transparent)]
    Crds(#[from] crate::api::crds::CrdError),
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
    #[error(
        "namespace {0} still holds ManifestWorks with the agent's finalizer; run the WEC's agent so it can clean up, or pass --force to abandon what it applied"
    )]
    AgentFinalizers(String),
    /// The built-in copy of deploy/agent/ cannot be filled in.
    #[error("agent manifest: {0}")]
    Manifest(String),
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> InventoryError {
    let what = what.into();
    move |source| InventoryError::Api { what, source }
}

/// One WEC to register.
#[derive(Clone, Debug, Default)]
pub struct Registration {
    pub name: String,
    /// The ManagedCluster's labels (what BindingPolicy clusterSelectors match).
    pub labels: BTreeMap<String, String>,
    /// Customization properties (ConfigMap `customization-properties/<name>`).
    pub properties: BTreeMap<String, String>,
}

/// The group every agent identity belongs to.
pub const AGENTS_GROUP: &str = "kubestellar:agents";

/// Name of the Role (and RoleBinding) granting a WEC's agent its mailbox.
pub const AGENT_ROLE: &str = "kubestellar-agent";

/// The ITS user name of WEC `wec`'s agent.
pub fn agent_user(wec: &str) -> String {
    format!("kubestellar:agent:{wec}")
}

/// What an agent may do in its own mailbox namespace of the ITS, and nothing elsewhere: read
/// its ManifestWorks and report on them, keep its WorkStatuses and UpsyncedObjects, renew its
/// Leases (heartbeat, leadership), read its upsync configuration.
fn agent_rules() -> serde_json::Value {
    let rw = json!([
        "get", "list", "watch", "create", "update", "patch", "delete"
    ]);
    json!([
        {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks"],
         "verbs": ["get", "list", "watch", "update", "patch"]},
        {"apiGroups": ["work.open-cluster-management.io"], "resources": ["manifestworks/status"],
         "verbs": ["get", "update", "patch"]},
        {"apiGroups": ["control.kubestellar.io"],
         "resources": ["workstatuses", "workstatuses/status", "upsyncedobjects", "upsyncedobjects/status"],
         "verbs": rw},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "list", "watch", "create", "update", "patch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

/// Who an agent is in the ITS.
#[derive(Clone, Debug)]
pub enum AgentSubject {
    /// A user (the embedded system's in-process agents, by client certificate).
    User(String),
    /// The ServiceAccount [`AGENT_ROLE`] in the WEC's mailbox namespace (`kubestellar register`).
    ServiceAccount,
}

/// Grants WEC `wec`'s agent its mailbox namespace: a Role and a RoleBinding there.
pub async fn grant_agent(
    its: &kube::Client,
    wec: &str,
    agent: &AgentSubject,
) -> Result<(), InventoryError> {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    check_name(wec)?;
    let params = PatchParams::apply(MANAGER).force();
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": AGENT_ROLE, "namespace": wec},
        "rules": agent_rules(),
    });
    Api::<Role>::namespaced(its.clone(), wec)
        .patch(AGENT_ROLE, &params, &Patch::Apply(&role))
        .await
        .map_err(api_err(format!("Role {wec}/{AGENT_ROLE}")))?;
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": AGENT_ROLE, "namespace": wec},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AGENT_ROLE},
        "subjects": [match agent {
            AgentSubject::User(user) =>
                json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}),
            AgentSubject::ServiceAccount =>
                json!({"kind": "ServiceAccount", "name": AGENT_ROLE, "namespace": wec}),
        }],
    });
    Api::<RoleBinding>::namespaced(its.clone(), wec)
        .patch(AGENT_ROLE, &params, &Patch::Apply(&binding))
        .await
        .map_err(api_err(format!("RoleBinding {wec}/{AGENT_ROLE}")))?;
    Ok(())
}

/// How long the agent's token is valid: one year. The agent reads its kubeconfig once and does
/// not renew, so the token is long-lived (TokenRequest allows up to 2^32 s); re-running
/// `kubestellar register` issues a fresh one, and unregistering (the mailbox namespace and so
/// the ServiceAccount go) revokes it.
pub const AGENT_TOKEN_SECONDS: i64 = 365 * 24 * 3600;

/// A bearer token and when it expires (RFC 3339).
#[derive(Debug, Clone)]
pub struct AgentToken {
    /// The token.
    pub token: String,
    /// Its `expirationTimestamp`.
    pub expires: String,
}

/// Creates the agent's ServiceAccount in WEC `wec`'s mailbox, grants it the mailbox, and
/// returns a bearer token for it valid [`AGENT_TOKEN_SECONDS`] (TokenRequest, as `kubectl
/// create token --duration` asks).
pub async fn agent_token(its: &kube::Client, wec: &str) -> Result<AgentToken, InventoryError> {
    use k8s_openapi::api::authentication::v1::TokenRequest;
    use k8s_openapi::api::core::v1::ServiceAccount;
    check_name(wec)?;
    let sas: Api<ServiceAccount> = Api::namespaced(its.clone(), wec);
    let body = json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": AGENT_ROLE, "namespace": wec},
    });
    sas.patch(
        AGENT_ROLE,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await
    .map_err(api_err(format!("ServiceAccount {wec}/{AGENT_ROLE}")))?;
    grant_agent(its, wec, &AgentSubject::ServiceAccount).await?;
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": AGENT_TOKEN_SECONDS},
    });
    let answer: TokenRequest = sas
        .create_subresource("token", AGENT_ROLE, &Default::default(), &request)
        .await
        .map_err(api_err(format!(
            "token of ServiceAccount {wec}/{AGENT_ROLE}"
        )))?;
    answer
        .status
        .filter(|s| !s.token.is_empty())
        .map(|s| AgentToken {
            token: s.token,
            expires: s.expiration_timestamp.0.to_string(),
        })
        .ok_or_else(|| InventoryError::Api {
            what: format!("token of ServiceAccount {wec}/{AGENT_ROLE}"),
            source: kube::Error::Service("the ITS answered a TokenRequest without a token".into()),
        })
}

/// Checks a WEC name: it becomes a namespace name.
pub fn check_name(name: &str) -> Result<(), InventoryError> {
    if kubestellar_apimachinery::validation::is_dns1123_label(name).is_empty() {
        Ok(())
    } else {
        Err(InventoryError::BadName(name.to_string()))
    }
}

/// Installs the ITS CRDs if needed, then creates or updates the WEC's ManagedCluster, mailbox
/// namespace and properties ConfigMap.
pub async fn register(its: &kube::Client, reg: &Registration) -> Result<(), InventoryError> {
    check_name(&reg.name)?;
    crate::api::crds::install(its, crate::api::crds::ITS_CRDS, MANAGER).await?;
    let params = PatchParams::apply(MANAGER).force();
    let namespaces: Api<Namespace> = Api::all(its.clone());
    for ns in [CUSTOMIZATION_PROPERTIES_NS, reg.name.as_str()] {
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        namespaces
            .patch(ns, &params, &Patch::Apply(&body))
            .await
            .map_err(api_err(format!("namespace {ns}")))?;
    }
    let mcs: Api<ManagedCluster> = Api::all(its.clone());
    let body = json!({
        "apiVersion": "cluster.open-cluster-management.io/v1",
        "kind": "ManagedCluster",
        "metadata": {"name": reg.name, "labels": reg.labels},
        "spec": {"hubAcceptsClient": true},
    });
    mcs.patch(&reg.name, &params, &Patch::Apply(&body))
        .await
        .map_err(api_err(format!("ManagedCluster {}", reg.name)))?;
    let cms: Api<ConfigMap> = Api::namespaced(its.clone(), CUSTOMIZATION_PROPERTIES_NS);
    let body = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": reg.name, "namespace": CUSTOMIZATION_PROPERTIES_NS},
        "data": reg.properties,
    });
    cms.patch(&reg.name, &params, &Patch::Apply(&body))
        .await
        .map_err(api_err(format!(
            "ConfigMap {CUSTOMIZATION_PROPERTIES_NS}/{}",
            reg.name
        )))?;
    Ok(())
}

/// Removes a WEC from the inventory. Without `force`, refuses while its mailbox still holds
/// ManifestWorks its agent has not cleaned up (their objects would be abandoned in the WEC).
pub async fn unregister(its: &kube::Client, name: &str, force: bool) -> Result<(), InventoryError> {
    check_name(name)?;
    let mws: Api<ManifestWork> = Api::namespaced(its.clone(), name);
    let held: Vec<ManifestWork> = match mws.list(&ListParams::default()).await {
        Ok(l) => l
            .items
            .into_iter()
            .filter(|m| {
                m.metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == MANIFESTWORK_CLEANUP_FINALIZER)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    if !held.is_empty() {
        if !force {
            return Err(InventoryError::AgentFinalizers(name.to_string()));
        }
        for mw in held {
            let n = mw.metadata.name.clone().unwrap_or_default();
            let fins: Vec<String> = mw
                .metadata
                .finalizers
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != MANIFESTWORK_CLEANUP_FINALIZER)
                .collect();
            let patch = json!({"metadata": {"finalizers": fins}});
            mws.patch(&n, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(api_err(format!("ManifestWork {name}/{n}")))?;
        }
    }
    let ignore_missing = |r: Result<(), kube::Error>, what: String| match r {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(source) => Err(InventoryError::Api { what, source }),
    };
    let mcs: Api<ManagedCluster> = Api::all(its.clone());
    ignore_missing(
        mcs.delete(name, &DeleteParams::default()).await.map(|_| ()),
        format!("ManagedCluster {name}"),
    )?;
    let cms: Api<ConfigMap> = Api::namespaced(its.clone(), CUSTOMIZATION_PROPERTIES_NS);
    ignore_missing(
        cms.delete(name, &DeleteParams::default()).await.map(|_| ()),
        format!("ConfigMap {CUSTOMIZATION_PROPERTIES_NS}/{name}"),
    )?;
    let namespaces: Api<Namespace> = Api::all(its.clone());
    ignore_missing(
        namespaces
            .delete(name, &DeleteParams::default())
            .await
            .map(|_| ()),
        format!("namespace {name}"),
    )?;
    Ok(())
}

/// The agent's kustomization in deploy/agent/, the one source of the in-WEC manifest.
const AGENT_FILES: [(&str, &str); 4] = [
    (
        "namespace.yaml",
        include_str!("../../deploy/agent/namespace.yaml"),
    ),
    (
        "serviceaccount.yaml",
        include_str!("../../deploy/agent/serviceaccount.yaml"),
    ),
    ("rbac.yaml", include_str!("../../deploy/agent/rbac.yaml")),
    (
        "deployment.yaml",
        include_str!("../../deploy/agent/deployment.yaml"),
    ),
];

/// The image deploy/agent/deployment.yaml names (a placeholder until releases are published).
pub const AGENT_IMAGE: &str = "ghcr.io/kubestellar-wasm/kubestellar:latest";
/// The WEC name deploy/agent/deployment.yaml carries as its placeholder.
const PLACEHOLDER_WEC: &str = "- --cluster\n        - cluster1\n";

/// The manifest that runs WEC `name`'s agent inside the WEC: deploy/agent/ (namespace,
/// ServiceAccount, its RBAC, the Deployment) with the WEC's name and `image` filled in. It reads
/// the ITS kubeconfig from Secret `kubestellar-agent/its-kubeconfig`, which the caller creates.
pub fn agent_manifest(name: &str, image: &str) -> Result<String, InventoryError> {
    check_name(name)?;
    // JSON strings are YAML scalars: nothing in `image` can break out of its field.
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut out = String::new();
    for (file, text) in AGENT_FILES {
        let text = if file == "deployment.yaml" {
            let wec = format!("- --cluster\n        - {}\n", quoted(name));
            if !text.contains(PLACEHOLDER_WEC) || !text.contains(AGENT_IMAGE) {
                return Err(InventoryError::Manifest(format!(
                    "deploy/agent/{file} no longer has the `--cluster cluster1` and image placeholders"
                )));
            }
            text.replace(PLACEHOLDER_WEC, &wec)
                .replace(AGENT_IMAGE, &quoted(image))
        } else {
            text.to_string()
        };
        out.push_str(&format!("---\n# deploy/agent/{file}\n"));
        out.push_str(text.trim_end());
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_manifest_is_deploy_agent_filled_in() {
        let m = agent_manifest("edge-7", "registry.example/ks:v1").expect("manifest");
        assert!(!m.contains("cluster-admin"), "{m}");
        assert!(m.contains("- --cluster\n        - \"edge-7\"\n"), "{m}");
        assert!(m.contains("image: \"registry.example/ks:v1\""), "{m}");
        assert!(
            !m.contains("- cluster1\n") && !m.contains(AGENT_IMAGE),
            "{m}"
        );
        for (_, text) in AGENT_FILES {
            let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(text)
                .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
                .collect();
            for d in docs {
                let kind = d["kind"].as_str().unwrap_or_default();
                assert!(m.contains(&format!("kind: {kind}")), "{kind} missing");
            }
        }
        let docs: Vec<serde_json::Value> = serde_yaml_ng::Deserializer::from_str(&m)
            .map(|d| serde::Deserialize::deserialize(d).expect("printed yaml parses"))
            .collect();
        assert_eq!(docs.len(), 5, "{m}");
        assert!(agent_manifest("Not_A_Name", "x").is_err());
        let hostile = agent_manifest("c", "x\n  hostPID: true").expect("manifest");
        assert!(
            hostile.contains("image: \"x\\n  hostPID: true\""),
            "{hostile}"
        );
    }
}
