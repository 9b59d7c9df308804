//! Go's template builtins, minus `html`, `js`, `urlquery` and `call`, which upstream KubeStellar
//! disables (they are reported as undefined functions).

use std::borrow::Cow;

use super::fmt::{sprint, sprintf, sprintln};
use super::value::Value;

/// Builtins: name, fixed parameter count, and whether more may follow.
const BUILTINS: [(&str, usize, bool); 15] = [
    ("and", 1, true),
    ("or", 1, true),
    ("not", 1, false),
    ("len", 1, false),
    ("index", 1, true),
    ("slice", 1, true),
    ("print", 0, true),
    ("printf", 1, true),
    ("println", 0, true),
    ("eq", 1, true),
    ("ne", 2, false),
    ("lt", 2, false),
    ("le", 2, false),
    ("gt", 2, false),
    ("ge", 2, false),
];

/// Whether `name` is a function templates may call.
pub fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|(n, _, _)| *n == name)
}

/// Checks the argument count like Go's `evalCall`; `given` counts the piped final value,
/// `explicit` does not.
pub fn check_arity(name: &str, given: usize, explicit: usize) -> Result<(), String> {
    let Some(&(_, fixed, variadic)) = BUILTINS.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("{name:?} is not a defined function"));
    };
    if variadic {
        if given < fixed {
            return Err(format!(
                "wrong number of args for {name}: want at least {fixed} got {explicit}"
            ));
        }
    } else if given != fixed {
        return Err(format!(
            "wrong number of args for {name}: want {fixed} got {given}"
        ));
    }
    Ok(())
}

/// Calls a builtin other than `and`/`or` (which the executor short-circuits). Errors are the
/// function's own message; the caller prefixes `error calling <name>: `.
pub fn call<'a>(name: &str, mut args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
    match name {
        "not" => Ok(Value::Bool(!args.first().is_some_and(Value::truth))),
        "len" => length(args.first().unwrap_or(&Value::Nil)),
        "index" => {
            let rest = args.split_off(1);
            index(args.pop().unwrap_or(Value::Nil), &rest)
        }
        "slice" => {
            let rest = args.split_off(1);
            slice(args.pop().unwrap_or(Value::Nil), &rest)
        }
        "print" => Ok(Value::Str(Cow::Owned(sprint(&args)))),
        "println" => Ok(Value::Str(Cow::Owned(sprintln(&args)))),
        "printf" => {
            let rest = args.split_off(1);
            match args.pop() {
                Some(Value::Str(format)) => Ok(Value::Str(Cow::Owned(sprintf(&format, &rest)))),
                Some(other) => Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                )),
                None => Err("missing format".to_owned()),
            }
        }
        "eq" => {
            let rest = args.split_off(1);
            eq(&args.pop().unwrap_or(Value::Nil), &rest).map(Value::Bool)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            let (a, b) = match (args.first(), args.get(1)) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err("missing argument for comparison".to_owned()),
            };
            let result = match name {
                "ne" => !eq(a, std::slice::from_ref(b))?,
                "lt" => lt(a, b)?,
                "le" => lt(a, b)? || eq(a, std::slice::from_ref(b))?,
                "gt" => !(lt(a, b)? || eq(a, std::slice::from_ref(b))?),
                _ => !lt(a, b)?,
            };
            Ok(Value::Bool(result))
        }
        other => Err(format!("{other:?} is not a defined function")),
    }
}

fn length<'a>(item: &Value<'a>) -> Result<Value<'a>, String> {
    match item {
        Value::Str(s) => Ok(Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))),
        Value::Map(m) => Ok(Value::Int(i64::try_from(m.len()).unwrap_or(i64::MAX))),
        Value::Nil => Err("len of nil pointer".to_owned()),
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn index_arg(index: &Value<'_>, len: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(n) => *n,
        Value::Byte(b) => i64::from(*b),
        Value::Nil => return Err("cannot index slice/array with nil".to_owned()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= len => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

fn index<'a>(mut item: Value<'a>, indexes: &[Value<'a>]) -> Result<Value<'a>, String> {
    if let Value::Nil = item {
        return Err("index of untyped nil".to_owned());
    }
    for index in indexes {
        item = match item {
            Value::Str(s) => {
                let i = index_arg(index, s.len())?;
                match s.as_bytes().get(i) {
                    Some(b) => Value::Byte(*b),
                    None => return Err(format!("index out of range: {i}")),
                }
            }
            Value::Map(m) => match index {
                Value::Str(key) => Value::Str(
                    m.get(key.as_ref())
                        .map_or(Cow::Borrowed(""), |v| Cow::Borrowed(v.as_str())),
                ),
                Value::Nil => return Err("value is nil; should be of type string".to_owned()),
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice<'a>(item: Value<'a>, indexes: &[Value<'a>]) -> Result<Value<'a>, String> {
    let s = match item {
        Value::Nil => return Err("slice of untyped nil".to_owned()),
        Value::Str(s) => s,
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".to_owned());
    }
    let mut idx = [0, s.len()];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, s.len())?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    let bytes = &s.as_bytes()[idx[0]..idx[1]];
    Ok(Value::Str(Cow::Owned(
        String::from_utf8_lossy(bytes).into_owned(),
    )))
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum BasicKind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
}

fn basic_kind(v: &Value<'_>) -> BasicKind {
    match v {
        Value::Bool(_) => BasicKind::Bool,
        Value::Int(_) => BasicKind::Int,
        Value::Byte(_) => BasicKind::Uint,
        Value::Float(_) => BasicKind::Float,
        Value::Str(_) => BasicKind::String,
        Value::Nil | Value::Map(_) => BasicKind::Invalid,
    }
}

fn as_i128(v: &Value<'_>) -> i128 {
    match v {
        Value::Int(n) => i128::from(*n),
        Value::Byte(b) => i128::from(*b),
        _ => 0,
    }
}

/// Go's `eq`: whether `a` equals any of `others`.
fn eq(a: &Value<'_>, others: &[Value<'_>]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".to_owned());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (BasicKind::Int, BasicKind::Uint) | (BasicKind::Uint, BasicKind::Int) => {
                    as_i128(a) == as_i128(b)
                }
                _ if !matches!(a, Value::Nil) && !matches!(b, Value::Nil) => {
                    return Err("incompatible types for comparison".to_owned());
                }
                _ => false,
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Map(_), _) | (_, Value::Map(_)) => {
                    return Err(format!(
                        "non-comparable types {}: {}",
                        a.type_name(),
                        b.type_name()
                    ));
                }
                _ => as_i128(a) == as_i128(b),
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn lt(a: &Value<'_>, b: &Value<'_>) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == BasicKind::Invalid || k2 == BasicKind::Invalid {
        return Err("invalid type for comparison".to_owned());
    }
    if k1 != k2 {
        return match (k1, k2) {
            (BasicKind::Int, BasicKind::Uint) | (BasicKind::Uint, BasicKind::Int) => {
                Ok(as_i128(a) < as_i128(b))
            }
            _ => Err("incompatible types for comparison".to_owned()),
        };
    }
    match (a, b) {
        (Value::Bool(_), _) => Err("invalid type for comparison".to_owned()),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Ok(as_i128(a) < as_i128(b)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn s(v: &str) -> Value<'_> {
        Value::Str(Cow::Borrowed(v))
    }

    fn show(r: Result<Value<'_>, String>) -> String {
        match r {
            Ok(v) => sprint(&[v]),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn builtins_behave_like_go() {
        assert_eq!(show(call("len", vec![s("héllo")])), "6");
        assert_eq!(
            show(call("len", vec![Value::Int(3)])),
            "error: len of type int"
        );
        assert_eq!(show(call("index", vec![s("abc"), Value::Int(1)])), "98");
        assert_eq!(
            show(call("index", vec![s("abc"), Value::Int(5)])),
            "error: index out of range: 5"
        );
        assert_eq!(
            show(call(
                "slice",
                vec![s("abcdef"), Value::Int(1), Value::Int(3)]
            )),
            "bc"
        );
        assert_eq!(
            show(call("slice", vec![s("abc"), Value::Int(2), Value::Int(1)])),
            "error: invalid slice index: 2 > 1"
        );
        assert_eq!(
            show(call("printf", vec![s("%s=%d"), s("a"), Value::Int(1)])),
            "a=1"
        );
        assert_eq!(
            show(call("printf", vec![Value::Int(1)])),
            "error: wrong type for value; expected string; got int"
        );
        assert_eq!(show(call("eq", vec![s("a"), s("b"), s("a")])), "true");
        assert_eq!(
            show(call("eq", vec![Value::Int(1), Value::Float(1.0)])),
            "error: incompatible types for comparison"
        );
        assert_eq!(
            show(call("eq", vec![Value::Int(1)])),
            "error: missing argument for comparison"
        );
        assert_eq!(show(call("lt", vec![s("a"), s("b")])), "true");
        assert_eq!(show(call("ge", vec![Value::Int(2), Value::Int(2)])), "true");
        assert_eq!(
            show(call("gt", vec![Value::Bool(true), Value::Bool(false)])),
            "error: invalid type for comparison"
        );
        assert_eq!(show(call("not", vec![s("")])), "true");
        assert_eq!(
            check_arity("lt", 1, 1),
            Err("wrong number of args for lt: want 2 got 1".to_owned())
        );
        assert_eq!(
            check_arity("printf", 0, 0),
            Err("wrong number of args for printf: want at least 1 got 0".to_owned())
        );
        assert!(!is_builtin("html") && !is_builtin("call") && is_builtin("printf"));
    }
}
