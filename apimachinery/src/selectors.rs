//! Label and field selectors exactly as `k8s.io/apimachinery/pkg/labels` and `.../fields`
//! parse, match and print them, including kube's error messages.

mod fields;
mod labels;

pub use fields::{
    FieldOperator, FieldRequirement, FieldSelector, escape_field_value, parse_field_selector,
};
pub use labels::{
    LabelSelector, Labels, Operator, Requirement, from_label_selector_json, parse_label_selector,
};

/// A selector that cannot be parsed or built; the text is kube's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector string that does not parse (`unable to parse requirement: ...`,
    /// `found ',', expected: ...`).
    #[error("{0}")]
    Syntax(String),
    /// A requirement with an invalid key, operator or values (`key: Invalid value: ...`).
    #[error("{0}")]
    Requirement(String),
    /// A `metav1.LabelSelector` with an unknown operator (`"OutOf" is not a valid label
    /// selector operator`) or a malformed shape.
    #[error("{0}")]
    LabelSelector(String),
    /// A field selector that does not parse (`invalid selector: ...`,
    /// `invalid field selector: ...`).
    #[error("{0}")]
    FieldSyntax(String),
}
