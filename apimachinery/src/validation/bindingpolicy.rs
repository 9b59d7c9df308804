//! The extra patterns KubeStellar's BindingPolicy CRD puts on `spec.clusterSelectors`
//! (`config/crd/patches/more_validations_in_bindingpolicies.yaml`), as CRD-schema patterns and
//! as plain validators.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Value, json};

/// `clusterSelectors[].matchLabels` values and `matchExpressions[].values[]`: a label value.
pub const BP_LABEL_VALUE_PATTERN: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// `clusterSelectors[].matchExpressions[].key`: an optionally DNS-prefixed label key.
pub const BP_MATCH_EXPRESSION_KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
/// `clusterSelectors[].matchExpressions[].operator`.
pub const BP_OPERATOR_PATTERN: &str = "^(In|NotIn|Exists|DoesNotExist)$";

static LABEL_VALUE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(BP_LABEL_VALUE_PATTERN).expect("constant pattern compiles"));
static KEY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(BP_MATCH_EXPRESSION_KEY_PATTERN).expect("constant pattern compiles")
});
static OPERATOR_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(BP_OPERATOR_PATTERN).expect("constant pattern compiles"));

/// True when `v` is acceptable as a cluster selector's label value.
pub fn is_bp_label_value(v: &str) -> bool {
    LABEL_VALUE_RE.is_match(v)
}

/// True when `k` is acceptable as a cluster selector's matchExpressions key.
pub fn is_bp_match_expression_key(k: &str) -> bool {
    KEY_RE.is_match(k)
}

/// True when `op` is a label selector operator.
pub fn is_bp_operator(op: &str) -> bool {
    OPERATOR_RE.is_match(op)
}

/// The OpenAPI schema of one `spec.clusterSelectors[]` item, with the patterns above, for the
/// BindingPolicy CRD (`x-kubernetes-map-type: atomic` as upstream).
pub fn cluster_selector_schema() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-map-type": "atomic",
        "properties": {
            "matchLabels": {
                "type": "object",
                "additionalProperties": {"type": "string", "pattern": BP_LABEL_VALUE_PATTERN}
            },
            "matchExpressions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["key", "operator"],
                    "properties": {
                        "key": {"type": "string", "pattern": BP_MATCH_EXPRESSION_KEY_PATTERN},
                        "operator": {"type": "string", "pattern": BP_OPERATOR_PATTERN},
                        "values": {
                            "type": "array",
                            "items": {"type": "string", "pattern": BP_LABEL_VALUE_PATTERN}
                        }
                    }
                }
            }
        }
    })
}
