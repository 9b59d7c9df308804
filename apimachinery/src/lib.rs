//! Kubernetes object machinery that needs no server: built-in type metadata, protobuf request
//! decoding, label and field selectors, strategic merge patch and server-side apply.

pub mod apply;
pub mod builtin;
pub mod fieldset;
pub mod protobuf;
pub mod schema;
pub mod selectors;
pub mod strategic;
pub mod structural;
pub mod validation;
