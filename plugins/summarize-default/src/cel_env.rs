//! The CEL environment of a StatusCollector: compiling and checking expressions, finding what
//! they read, building the variables, evaluating.
//!
//! Upstream declares four variables, all map-like: `inventory`, `obj`, `returned` and
//! `propagation`. Expressions are parsed and checked for undeclared identifiers once per call;
//! for each variable we also record which of its fields they can reach (a [`Need`]), so that
//! only those are ever built.

use std::collections::HashMap;
use std::fmt;

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr};
use cel::common::types::{CelMap, CelMapKey, CelNull, CelString, CelTimestamp};
use cel::common::value::Val;
use cel::{Context, Program};

use crate::evaluated::Evaluated;
use crate::json_val::Need;

/// The name of the variable holding `{"name": <WEC name>}`.
pub const INVENTORY: &str = "inventory";
/// The name of the variable holding the workload object.
pub const OBJ: &str = "obj";
/// The name of the variable holding `{"status": <returned status or null>}`.
pub const RETURNED: &str = "returned";
/// The name of the variable holding `{"lastReturnedUpdateTimestamp": <timestamp>}`.
pub const PROPAGATION: &str = "propagation";

/// Identifiers that resolve without a variable: CEL's type names, e.g. in `type(x) == int`.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// What the expressions read of each variable. A variable is populated only if needed
/// (upstream populates only variables named as a whole word in some expression).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vars {
    /// What is read of `inventory`.
    pub inventory: Need,
    /// What is read of `obj`.
    pub obj: Need,
    /// What is read of `returned`.
    pub returned: Need,
    /// What is read of `propagation`.
    pub propagation: Need,
}

impl Vars {
    /// Adds everything `other` reads.
    pub fn merge(&mut self, other: &Vars) {
        self.inventory.merge(&other.inventory);
        self.obj.merge(&other.obj);
        self.returned.merge(&other.returned);
        self.propagation.merge(&other.propagation);
    }
}

/// One of the four variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// `inventory`.
    Inventory,
    /// `obj`.
    Obj,
    /// `returned`.
    Returned,
    /// `propagation`.
    Propagation,
}

/// An expression that only selects fields of a variable, e.g. `returned.status.replicas`:
/// it can be answered from the JSON text directly, without building CEL values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The variable.
    pub var: Var,
    /// The fields selected, outermost first.
    pub path: Vec<String>,
}

/// A parsed and checked expression.
pub struct Expression {
    program: Program,
    vars: Vars,
    chain: Option<Chain>,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("vars", &self.vars)
            .finish_non_exhaustive()
    }
}

impl Expression {
    /// Parses `source` and checks that it names no identifier other than the four variables
    /// (and CEL's type names). The error text follows upstream's `CheckExpression`.
    pub fn compile(source: &str) -> Result<Expression, String> {
        let program = Program::compile(source)
            .map_err(|errors| format!("failed to parse expression: {errors}"))?;
        let mut reads = Reads::default();
        reads.expr(&program.expression().expr);
        let mut vars = Vars::default();
        for (name, path) in reads.found {
            let need = match name {
                INVENTORY => &mut vars.inventory,
                OBJ => &mut vars.obj,
                RETURNED => &mut vars.returned,
                PROPAGATION => &mut vars.propagation,
                other if TYPE_NAMES.contains(&other) => continue,
                other => {
                    return Err(format!(
                        "failed to check expression: undeclared reference to '{other}'"
                    ));
                }
            };
            need.add_path(&path);
        }
        let chain = chain_of(&program.expression().expr);
        Ok(Expression {
            program,
            vars,
            chain,
        })
    }

    /// What this expression reads of each variable.
    pub fn vars(&self) -> &Vars {
        &self.vars
    }

    /// The field chain this expression is, if it is nothing more.
    pub fn chain(&self) -> Option<&Chain> {
        self.chain.as_ref()
    }

    /// Evaluates the expression in `context` and converts the result to owned data.
    pub fn evaluate(&self, context: &Context<'_, '_>) -> Result<Evaluated, String> {
        let value = cel::Value::resolve_val(self.program.expression(), context)
            .map_err(|e| e.to_string())?;
        Ok(Evaluated::from_val(&*value))
    }
}

/// `Some` if `expr` is only field selections (no `has()`) on one of the variables.
fn chain_of(expr: &Expr) -> Option<Chain> {
    let mut path = Vec::new();
    let mut base = expr;
    while let Expr::Select(select) = base {
        if select.test {
            return None;
        }
        path.push(select.field.clone());
        base = &select.operand.expr;
    }
    let Expr::Ident(name) = base else {
        return None;
    };
    let var = match name.strip_prefix('.').unwrap_or(name) {
        INVENTORY => Var::Inventory,
        OBJ => Var::Obj,
        RETURNED => Var::Returned,
        PROPAGATION => Var::Propagation,
        _ => return None,
    };
    path.reverse();
    Some(Chain { var, path })
}

/// The free identifiers of an expression, each with the field path selected on it: `a.b.c`
/// reads path `[b, c]` of `a`; `a` alone, or `a.b` compared, iterated or indexed, reads all of
/// what the chain reaches. Comprehension variables are bound in the loop condition, step and
/// result only, as in CEL.
#[derive(Default)]
struct Reads<'e> {
    bound: Vec<&'e str>,
    found: Vec<(&'e str, Vec<&'e str>)>,
}

impl<'e> Reads<'e> {
    fn expr(&mut self, expr: &'e Expr) {
        match expr {
            Expr::Unspecified | Expr::Literal(_) => {}
            Expr::Ident(name) => self.ident(name, Vec::new()),
            Expr::Select(_) => {
                // Walk down the whole chain of field selections (`has()` tests included).
                let mut fields = Vec::new();
                let mut base = expr;
                while let Expr::Select(select) = base {
                    fields.push(select.field.as_str());
                    base = &select.operand.expr;
                }
                fields.reverse();
                match base {
                    Expr::Ident(name) => self.ident(name, fields),
                    other => self.expr(other),
                }
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.expr(&target.expr);
                }
                for arg in &call.args {
                    self.expr(&arg.expr);
                }
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.expr(&element.expr);
                }
            }
            Expr::Map(map) => self.entries(&map.entries),
            Expr::Struct(structure) => self.entries(&structure.entries),
            Expr::Comprehension(comp) => {
                self.expr(&comp.iter_range.expr);
                self.expr(&comp.accu_init.expr);
                let depth = self.bound.len();
                self.bound.push(comp.iter_var.as_str());
                if let Some(second) = &comp.iter_var2 {
                    self.bound.push(second.as_str());
                }
                self.bound.push(comp.accu_var.as_str());
                self.expr(&comp.loop_cond.expr);
                self.expr(&comp.loop_step.expr);
                self.expr(&comp.result.expr);
                self.bound.truncate(depth);
            }
        }
    }

    fn ident(&mut self, name: &'e str, path: Vec<&'e str>) {
        // A leading dot names the root scope: `.obj` is still `obj`.
        let name = name.strip_prefix('.').unwrap_or(name);
        if !self.bound.contains(&name) {
            self.found.push((name, path));
        }
    }

    fn entries(&mut self, entries: &'e [IdedEntryExpr]) {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(field) => self.expr(&field.value.expr),
                EntryExpr::MapEntry(map_entry) => {
                    self.expr(&map_entry.key.expr);
                    self.expr(&map_entry.value.expr);
                }
            }
        }
    }
}

/// A one-entry CEL map `{key: value}`.
pub fn single_entry_map<'v>(key: &'static str, value: Box<dyn Val + 'v>) -> Box<dyn Val + 'v> {
    let mut entries: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = HashMap::with_capacity(1);
    entries.insert(CelMapKey::String(CelString::from(key)), value);
    Box::new(CelMap::from(entries))
}

/// A CEL string borrowing `s`.
pub fn string_val(s: &str) -> Box<dyn Val + '_> {
    Box::new(CelString::from(s))
}

/// The CEL `null` value.
pub fn null_val() -> Box<dyn Val + 'static> {
    Box::new(CelNull)
}

/// A CEL timestamp for `seconds` and `nanoseconds` since the Unix epoch; Go's zero time
/// (0001-01-01T00:00:00Z), as upstream uses when nothing was returned, for `None` or an
/// out-of-range instant.
pub fn timestamp_val(instant: Option<(i64, u32)>) -> Box<dyn Val + 'static> {
    let time = instant
        .and_then(|(seconds, nanos)| chrono::DateTime::from_timestamp(seconds, nanos))
        .unwrap_or_else(go_zero_time)
        .fixed_offset();
    Box::new(CelTimestamp::from(time))
}

fn go_zero_time() -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json_val;

    fn eval(source: &str, vars: &[(&str, &str)]) -> Result<Evaluated, String> {
        let expression = Expression::compile(source)?;
        let mut context = Context::default();
        for (name, json) in vars {
            let value = json_val::parse(json, &Need::All).map_err(|e| e.to_string())?;
            context.add_variable_as_val(*name, value);
        }
        expression.evaluate(&context)
    }

    fn need(paths: &[&[&str]]) -> Need {
        let mut need = Need::Nothing;
        for path in paths {
            need.add_path(path);
        }
        need
    }

    #[test]
    fn reads_are_found_with_their_paths() {
        let e = Expression::compile("obj.spec.replicas == returned.status.availableReplicas")
            .expect("compiles");
        assert_eq!(e.vars().obj, need(&[&["spec", "replicas"]]));
        assert_eq!(e.vars().returned, need(&[&["status", "availableReplicas"]]));
        assert_eq!(e.vars().inventory, Need::Nothing);

        let e = Expression::compile("returned.status.conditions.exists(c, c.type == 'Ready')")
            .expect("compiles");
        assert_eq!(e.vars().returned, need(&[&["status", "conditions"]]));

        let e = Expression::compile(
            "has(obj.metadata.labels) && size(obj.spec) > 0 && obj['kind'] == 'x'",
        )
        .expect("compiles");
        // `obj['kind']` indexes `obj` itself, which therefore is needed whole.
        assert_eq!(e.vars().obj, Need::All);

        let e = Expression::compile("type(inventory.name) == string").expect("compiles");
        assert_eq!(e.vars().inventory, need(&[&["name"]]));

        // A comprehension variable named like a variable shadows it.
        let e = Expression::compile("[1, 2].map(obj, obj * 2)").expect("compiles");
        assert_eq!(e.vars(), &Vars::default());
        let e = Expression::compile("{'a': obj.x}.a").expect("compiles");
        assert_eq!(e.vars().obj, need(&[&["x"]]));
    }

    #[test]
    fn plain_field_chains_are_recognised() {
        let chain = |source: &str| {
            Expression::compile(source)
                .expect("compiles")
                .chain()
                .cloned()
        };
        assert_eq!(
            chain("returned.status.availableReplicas"),
            Some(Chain {
                var: Var::Returned,
                path: vec!["status".into(), "availableReplicas".into()]
            })
        );
        assert_eq!(
            chain("inventory"),
            Some(Chain {
                var: Var::Inventory,
                path: vec![]
            })
        );
        for not_a_chain in [
            "has(obj.spec)",
            "obj.spec.replicas + 1",
            "obj['spec']",
            "returned.status.conditions[0]",
            "[1].map(obj, obj.x)[0]",
        ] {
            assert_eq!(chain(not_a_chain), None, "{not_a_chain}");
        }
    }

    #[test]
    fn undeclared_identifiers_and_syntax_errors_are_rejected() {
        let err = Expression::compile("foo.bar").expect_err("undeclared");
        assert_eq!(
            err,
            "failed to check expression: undeclared reference to 'foo'"
        );
        let err = Expression::compile("c.x > 1 && [1].all(c, c > 0)").expect_err("c is free");
        assert!(err.contains("'c'"), "{err}");
        let err = Expression::compile("obj.spec.(").expect_err("syntax");
        assert!(
            err.starts_with("failed to parse expression: ERROR: <input>:1:"),
            "{err}"
        );
    }

    #[test]
    fn json_numbers_map_like_unstructured_decoding() {
        let returned = r#"{"status": {"replicas": 2, "ratio": 0.5, "big": 18446744073709551615}}"#;
        let vars = [(RETURNED, returned)];
        assert_eq!(
            eval("returned.status.replicas", &vars),
            Ok(Evaluated::Int(2))
        );
        assert_eq!(
            eval("returned.status.ratio", &vars),
            Ok(Evaluated::Double(0.5))
        );
        assert_eq!(
            eval("returned.status.big", &vars),
            Ok(Evaluated::UInt(u64::MAX))
        );
        assert_eq!(
            eval("returned.status.replicas == 2.0", &vars),
            Ok(Evaluated::Bool(true))
        );
    }

    #[test]
    fn strings_with_escapes_and_nested_values_convert() {
        let obj =
            r#"{"metadata": {"name": "a\"b", "labels": {"x": "y"}}, "list": [1, "two", null]}"#;
        let vars = [(OBJ, obj)];
        assert_eq!(
            eval("obj.metadata.name", &vars),
            Ok(Evaluated::String("a\"b".into()))
        );
        assert_eq!(
            eval("obj.metadata.labels", &vars),
            Ok(Evaluated::Json(serde_json::json!({"x": "y"})))
        );
        assert_eq!(
            eval("obj.list", &vars),
            Ok(Evaluated::Json(serde_json::json!([1, "two", null])))
        );
        assert_eq!(eval("obj.list[2]", &vars), Ok(Evaluated::Null));
        assert_eq!(eval("has(obj.spec)", &vars), Ok(Evaluated::Bool(false)));
        assert!(eval("obj.spec.replicas", &vars).is_err());
    }

    #[test]
    fn timestamps_and_durations_render_as_text() {
        let mut context = Context::default();
        context.add_variable_as_val(
            PROPAGATION,
            single_entry_map(
                "lastReturnedUpdateTimestamp",
                timestamp_val(Some((1_700_000_000, 500_000_000))),
            ),
        );
        let ts = Expression::compile("propagation.lastReturnedUpdateTimestamp").expect("compiles");
        assert_eq!(
            ts.evaluate(&context),
            Ok(Evaluated::String("2023-11-14T22:13:20.500Z".into()))
        );
        let d = Expression::compile("duration('90m') + duration('1.5s')").expect("compiles");
        assert_eq!(
            d.evaluate(&context),
            Ok(Evaluated::String("5401.5s".into()))
        );

        let mut zero = Context::default();
        zero.add_variable_as_val(
            PROPAGATION,
            single_entry_map("lastReturnedUpdateTimestamp", timestamp_val(None)),
        );
        let year = Expression::compile("propagation.lastReturnedUpdateTimestamp.getFullYear()")
            .expect("compiles");
        assert_eq!(year.evaluate(&zero), Ok(Evaluated::Int(1)));
    }
}
