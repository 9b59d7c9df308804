//! The CRD manifests (embedded) and their installation into a space.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};

/// CRDs installed into a WDS.
pub const WDS_CRDS: &[(&str, &str)] = &[
    ("bindingpolicies", include_str!("crds/bindingpolicies.yaml")),
    ("bindings", include_str!("crds/bindings.yaml")),
    (
        "customtransforms",
        include_str!("crds/customtransforms.yaml"),
    ),
    (
        "statuscollectors",
        include_str!("crds/statuscollectors.yaml"),
    ),
    (
        "combinedstatuses",
        include_str!("crds/combinedstatuses.yaml"),
    ),
    ("wasmplugins", include_str!("crds/wasmplugins.yaml")),
];

/// CRDs installed into an ITS.
pub const ITS_CRDS: &[(&str, &str)] = &[
    ("managedclusters", include_str!("crds/managedclusters.yaml")),
    ("manifestworks", include_str!("crds/manifestworks.yaml")),
    ("workstatuses", include_str!("crds/workstatuses.yaml")),
    ("upsyncedobjects", include_str!("crds/upsyncedobjects.yaml")),
];

/// Errors installing CRDs.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("embedded CRD {name} does not parse: {source}")]
    Parse {
        name: String,
        source: serde_yaml_ng::Error,
    },
    #[error("cannot apply CRD {name}: {source}")]
    Apply { name: String, source: kube::Error },
    #[error("CRD {0} did not become Established within 30s")]
    NotEstablished(String),
}

/// Parses a set of embedded CRDs.
pub fn parse(set: &[(&str, &str)]) -> Result<Vec<CustomResourceDefinition>, CrdError> {
    set.iter()
        .map(|(name, y)| {
            serde_yaml_ng::from_str(y).map_err(|source| CrdError::Parse {
                name: name.to_string(),
                source,
            })
        })
        .collect()
}

/// Applies CRDs (server-side apply, forced, one field manager) and waits until each is
/// Established. Idempotent.
pub async fn install(
    client: &kube::Client,
    set: &[(&str, &str)],
    manager: &str,
) -> Result<(), CrdError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(manager).force();
    for crd in parse(set)? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .map_err(|source| CrdError::Apply {
                name: name.clone(),
                source,
            })?;
    }
    for crd in parse(set)? {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let established = api.get_opt(&name).await.ok().flatten().is_some_and(|c| {
                c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                })
            });
            if established {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(CrdError::NotEstablished(name));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_crds_parse() {
        let wds = parse(WDS_CRDS).expect("WDS CRDs parse");
        let its = parse(ITS_CRDS).expect("ITS CRDs parse");
        assert_eq!(wds.len(), 6);
        assert_eq!(its.len(), 4);
        for c in wds.iter().chain(&its) {
            let name = c.metadata.name.clone().unwrap_or_default();
            assert_eq!(name, format!("{}.{}", c.spec.names.plural, c.spec.group));
            assert_eq!(
                c.spec.versions.iter().filter(|v| v.storage).count(),
                1,
                "{name}"
            );
        }
    }
}
