//! The values a template computes with: the property map (the data), its strings, and the
//! constants and results of builtin functions.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// The data a template runs on: property name → value (Go's `map[string]string`).
pub type Data = BTreeMap<String, String>;

/// A Go value, as far as templates over a `map[string]string` can produce one.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    /// An untyped nil (Go's invalid `reflect.Value`).
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte, from indexing a string (Go's `uint8`).
    Byte(u8),
    Float(f64),
    Str(Cow<'a, str>),
    Map(&'a Data),
}

impl Value<'_> {
    /// Go's type name, as error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Byte(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
        }
    }

    /// Go's `isTrue`: zero values and empty strings and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(n) => *n != 0,
            Value::Byte(b) => *b != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// Whether Go's `fmt` treats this as a string operand (for `print`'s spacing).
    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_))
    }
}
