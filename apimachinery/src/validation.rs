//! Object validation as kube-apiserver does it: field errors with kube's exact wording
//! (`metadata.name: Invalid value: "Foo_1": a lowercase RFC 1123 subdomain must ...`), the
//! name, label and annotation rules, ObjectMeta and LabelSelector validation, and the 422
//! message kubectl prints (`BindingPolicy.control.kubestellar.io "x" is invalid: [...]`).
//!
//! Messages follow Kubernetes 1.33 (`k8s.io/apimachinery/pkg/util/validation` and
//! `.../util/validation/field`).

mod bindingpolicy;
mod gofmt;
mod names;
mod objectmeta;

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Value, json};

pub use bindingpolicy::{
    BP_LABEL_VALUE_PATTERN, BP_MATCH_EXPRESSION_KEY_PATTERN, BP_OPERATOR_PATTERN,
    cluster_selector_schema, is_bp_label_value, is_bp_match_expression_key, is_bp_operator,
};
pub use gofmt::{go_float, go_json, go_quote, go_sharp, go_value};
pub use names::{
    DNS1035_LABEL_FMT, DNS1123_LABEL_FMT, DNS1123_SUBDOMAIN_FMT, LABEL_VALUE_FMT, NameRule,
    QUALIFIED_NAME_FMT, is_config_map_key, is_dns1035_label, is_dns1123_label,
    is_dns1123_subdomain, is_qualified_name, is_valid_label_value, is_valid_path_segment_name,
    is_valid_path_segment_prefix, max_len_error, regex_error,
};
pub use objectmeta::{
    TOTAL_ANNOTATION_SIZE_LIMIT, validate_annotations, validate_finalizers,
    validate_label_selector, validate_labels, validate_object_meta, validate_object_meta_at,
    validate_object_meta_update, validate_owner_references,
};

/// What went wrong with a field; mirrors `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    /// A value of the wrong JSON type (schema validation); printed as `Invalid value`.
    TypeInvalid,
}

impl ErrorKind {
    /// The `causes[].reason` string (`FieldValueInvalid`, ...).
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "FieldValueNotFound",
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::Internal => "InternalError",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
        }
    }

    /// The human phrase that starts the error body (`Invalid value`, `Required value`, ...).
    pub fn phrase(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "Not found",
            ErrorKind::Required => "Required value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::Invalid | ErrorKind::TypeInvalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::Internal => "Internal error",
        }
    }
}

/// One field-level validation error, printed exactly like kube's `field.Error`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The field path, e.g. `metadata.name` or `spec.containers[0].image`; `<nil>` for
    /// errors kube reports without a path.
    pub field: String,
    pub kind: ErrorKind,
    /// The offending value; `None` when kube omits it from the message.
    pub bad_value: Option<Value>,
    pub detail: String,
    /// The value came from a typed Go field (`[]string`, `map[string]string`) rather than
    /// unstructured JSON (`[]interface {}`); only changes how lists and maps print.
    pub typed: bool,
}

impl FieldError {
    fn new(
        field: impl Into<String>,
        kind: ErrorKind,
        bad_value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            kind,
            bad_value,
            detail: detail.into(),
            typed: false,
        }
    }

    /// `field.Invalid`.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(field, ErrorKind::Invalid, Some(value.into()), detail)
    }

    /// `field.TypeInvalid`.
    pub fn type_invalid(
        field: impl Into<String>,
        value: impl Into<Value>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(field, ErrorKind::TypeInvalid, Some(value.into()), detail)
    }

    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            field,
            ErrorKind::Required,
            Some(Value::String(String::new())),
            detail,
        )
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(
            field,
            ErrorKind::Forbidden,
            Some(Value::String(String::new())),
            detail,
        )
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(field, ErrorKind::Duplicate, Some(value.into()), "")
    }

    /// `field.NotFound`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Self::new(field, ErrorKind::NotFound, Some(value.into()), "")
    }

    /// `field.NotSupported`: `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported<S: AsRef<str>>(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[S],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s.as_ref())).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(field, ErrorKind::NotSupported, Some(value.into()), detail)
    }

    /// `field.TooLong`: `Too long: must have at most N bytes`.
    pub fn too_long(field: impl Into<String>, max_length: usize) -> Self {
        Self::new(
            field,
            ErrorKind::TooLong,
            None,
            format!("must have at most {max_length} bytes"),
        )
    }

    /// `field.TooLongMaxLength` (schema `maxLength`): `Too long: may not be longer than N`.
    pub fn too_long_max_length(
        field: impl Into<String>,
        value: impl Into<Value>,
        max_length: i64,
    ) -> Self {
        let detail = if max_length >= 0 {
            format!("may not be longer than {max_length}")
        } else {
            "value is too long".to_string()
        };
        Self::new(field, ErrorKind::TooLong, Some(value.into()), detail)
    }

    /// `field.TooMany`: `Too many: 5: must have at most 3 items`.
    pub fn too_many(field: impl Into<String>, actual: i64, max: i64) -> Self {
        let detail = if max >= 0 {
            format!("must have at most {max} items")
        } else {
            "has too many items".to_string()
        };
        let value = (actual >= 0).then(|| Value::from(actual));
        Self::new(field, ErrorKind::TooMany, value, detail)
    }

    /// `field.InternalError`.
    pub fn internal(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(field, ErrorKind::Internal, None, detail)
    }

    /// Marks the bad value as coming from a typed Go field (see [`FieldError::typed`]).
    pub fn typed(mut self) -> Self {
        self.typed = true;
        self
    }

    /// The `causes[].reason` string.
    pub fn reason(&self) -> &'static str {
        self.kind.reason()
    }

    /// The message without the field path (`field.Error.ErrorBody`), used as `causes[].message`.
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.bad_value) {
            (
                ErrorKind::Required
                | ErrorKind::Forbidden
                | ErrorKind::TooLong
                | ErrorKind::Internal,
                _,
            )
            | (_, None) => self.kind.phrase().to_string(),
            (kind, Some(v)) => format!("{}: {}", kind.phrase(), go_value(v, self.typed)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

/// kube's aggregate of several errors: duplicates dropped, one error bare, several as `[a, b]`.
pub fn aggregate_message(errs: &[FieldError]) -> String {
    let mut seen = BTreeSet::new();
    let msgs: Vec<String> = errs
        .iter()
        .map(ToString::to_string)
        .filter(|m| seen.insert(m.clone()))
        .collect();
    match msgs.len() {
        1 => msgs.into_iter().next().unwrap_or_default(),
        _ => format!("[{}]", msgs.join(", ")),
    }
}

/// The 422 `Status.message`: `<Kind>[.<group>] "<name>" is invalid: <aggregate>`
/// (`errors.NewInvalid`); kubectl prefixes it with `The `.
pub fn invalid_message(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    if errs.is_empty() {
        format!("{qualified} {} is invalid", go_quote(name))
    } else {
        format!(
            "{qualified} {} is invalid: {}",
            go_quote(name),
            aggregate_message(errs)
        )
    }
}

/// `details.causes` of a 422 Status: one `{reason, message, field}` per error.
pub fn status_causes(errs: &[FieldError]) -> Value {
    Value::Array(
        errs.iter()
            .map(|e| json!({"reason": e.reason(), "message": e.body(), "field": e.field}))
            .collect(),
    )
}

/// `field.Path.Child`: `parent.name` (just `name` at the root).
pub fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// `field.Path.Index`: `parent[i]`.
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// `field.Path.Key`: `parent[key]`.
pub fn key_path(parent: &str, key: &str) -> String {
    format!("{parent}[{key}]")
}
