//! Evaluating expressions for one WEC.
//!
//! Most StatusCollector expressions are plain field chains (`inventory.name`,
//! `returned.status.availableReplicas`). Those are answered straight from the JSON text. Any
//! other expression, and a chain that does not lead to a value (where CEL reports an error),
//! goes through the CEL interpreter, whose scope for the WEC is built on first use with only
//! the variables, and only the parts of them, that the collector's expressions read.

use cel::Context;
use cel::common::value::Val;

use crate::cel_env::{
    Chain, Expression, INVENTORY, PROPAGATION, RETURNED, Var, Vars, null_val, single_entry_map,
    string_val, timestamp_val,
};
use crate::evaluated::Evaluated;
use crate::json_val::{self, Need};
use crate::table::Input;

/// A returned status that is not valid JSON: the WEC is left out, with a row error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadStatus(pub String);

/// The evaluation environment of one WEC.
pub struct WecEnv<'b, 'v> {
    root: &'b Context<'b, 'v>,
    vars: &'b Vars,
    object: &'v str,
    input: Input<'v>,
    scope: Option<Context<'b, 'v>>,
}

impl<'b, 'v> WecEnv<'b, 'v> {
    /// An environment for `input`; `root` holds `obj` (if read), parsed from `object`.
    pub fn new(
        root: &'b Context<'b, 'v>,
        vars: &'b Vars,
        object: &'v str,
        input: Input<'v>,
    ) -> WecEnv<'b, 'v> {
        WecEnv {
            root,
            vars,
            object,
            input,
            scope: None,
        }
    }

    /// Evaluates `expression`. The inner error is CEL's; the outer one means the WEC's status
    /// could not be parsed, so nothing can be evaluated for it.
    pub fn evaluate(
        &mut self,
        expression: &Expression,
    ) -> Result<Result<Evaluated, String>, BadStatus> {
        if let Some(value) = expression.chain().and_then(|chain| self.direct(chain)) {
            return Ok(Ok(value));
        }
        Ok(expression.evaluate(self.scope()?))
    }

    /// Answers a field chain from the JSON text, or `None` to leave it to CEL (which then also
    /// produces the error if the chain leads nowhere).
    fn direct(&self, chain: &Chain) -> Option<Evaluated> {
        let (text, path) = match (chain.var, chain.path.as_slice()) {
            (Var::Inventory, [field]) if field == "name" => {
                return Some(Evaluated::String(self.input.cluster.to_owned()));
            }
            (Var::Returned, [status, path @ ..]) if status == "status" => {
                (self.input.status?, path)
            }
            (Var::Obj, path) => (self.object, path),
            _ => return None,
        };
        let value = json_val::lookup(text, path)?;
        let value = json_val::parse(value, &Need::All).ok()?;
        Some(Evaluated::from_val(&*value))
    }

    /// The CEL scope of this WEC, built on first use.
    fn scope(&mut self) -> Result<&Context<'b, 'v>, BadStatus> {
        match self.scope {
            Some(ref scope) => Ok(scope),
            None => {
                let scope = self.build_scope()?;
                Ok(self.scope.insert(scope))
            }
        }
    }

    fn build_scope(&self) -> Result<Context<'b, 'v>, BadStatus> {
        let vars = self.vars;
        let input = self.input;
        let mut scope = self.root.new_inner_scope();
        if vars.inventory.any() {
            scope.add_variable_as_val(
                INVENTORY,
                single_entry_map("name", string_val(input.cluster)),
            );
        }
        if vars.returned.any() {
            let need = vars.returned.field("status");
            let status: Box<dyn Val + 'v> = match input.status {
                Some(text) if need.any() => json_val::parse(text, need)
                    .map_err(|e| BadStatus(format!("invalid returned status: {e}")))?,
                // Nothing returned yet, or nothing of it read.
                _ => null_val(),
            };
            scope.add_variable_as_val(RETURNED, single_entry_map("status", status));
        }
        if vars.propagation.any() {
            let timestamp = timestamp_val(input.last_update);
            scope.add_variable_as_val(
                PROPAGATION,
                single_entry_map("lastReturnedUpdateTimestamp", timestamp),
            );
        }
        Ok(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Collector;

    const OBJECT: &str =
        r#"{"metadata": {"name": "nginx", "labels": {"a": "b"}}, "spec": {"replicas": 3}}"#;
    const STATUS: &str = r#"{"availableReplicas": 2, "ratio": 0.5, "big": 18446744073709551615,
        "name": "x\"y", "flag": true, "none": null, "list": [1, {"k": "v"}], "map": {"z": 1, "a": [2]}}"#;

    /// Every expression evaluated directly must give what the CEL interpreter gives.
    #[test]
    fn direct_answers_equal_cel_answers() {
        let exprs = [
            "inventory.name",
            "obj.spec.replicas",
            "obj.metadata.labels",
            "obj.metadata",
            "obj.spec.missing",
            "returned.status",
            "returned.status.availableReplicas",
            "returned.status.ratio",
            "returned.status.big",
            "returned.status.name",
            "returned.status.flag",
            "returned.status.none",
            "returned.status.list",
            "returned.status.map",
            "returned.status.map.a",
            "returned.status.none.x",
            "returned.status.list.k",
            "returned.status.missing",
            "inventory",
            "propagation.lastReturnedUpdateTimestamp",
        ];
        let mut answered_directly = 0;
        for status in [Some(STATUS), None, Some("[1, 2]"), Some("null")] {
            let input = Input {
                cluster: "wec1",
                status,
                last_update: Some((1_700_000_000, 0)),
            };
            for source in exprs {
                let config = format!(r#"{{"select":[{{"name":"c","def":"{source}"}}]}}"#);
                let collector = Collector::from_json(&config).expect("valid");
                let expression = &collector.select[0].expression;
                let vars = collector.vars();
                let mut root = Context::default();
                if vars.obj.any() {
                    let obj = json_val::parse(OBJECT, &vars.obj).expect("object");
                    root.add_variable_as_val(crate::cel_env::OBJ, obj);
                }
                let env = WecEnv::new(&root, &vars, OBJECT, input);
                let direct = expression.chain().and_then(|chain| env.direct(chain));
                let mut env = WecEnv::new(&root, &vars, OBJECT, input);
                let via_cel = env.scope().map(|scope| expression.evaluate(scope));
                match (direct, via_cel) {
                    (Some(direct), Ok(Ok(cel))) => {
                        assert_eq!(direct, cel, "{source} on {status:?}");
                        answered_directly += 1;
                    }
                    (Some(direct), other) => {
                        panic!("{source} on {status:?}: direct {direct:?}, CEL {other:?}")
                    }
                    (None, _) => {}
                }
            }
        }
        // For each status: inventory.name and the three obj chains that lead to a value; the
        // ten status chains that do on STATUS; `returned.status` itself on `[1, 2]` and `null`.
        assert_eq!(answered_directly, 4 * 4 + 10 + 2);
    }

    #[test]
    fn an_unparsable_status_is_reported_when_cel_needs_it() {
        let collector = Collector::from_json(
            r#"{"select":[{"name":"a","def":"returned.status.a"},{"name":"b","def":"returned.status.a + 1"}]}"#,
        )
        .expect("valid");
        let vars = collector.vars();
        let root = Context::default();
        let input = Input {
            cluster: "wec1",
            status: Some(r#"{"a": 1, "b": [1,"#),
            last_update: None,
        };
        let mut env = WecEnv::new(&root, &vars, "{}", input);
        // The chain is answered before the broken part.
        assert_eq!(
            env.evaluate(&collector.select[0].expression),
            Ok(Ok(Evaluated::Int(1)))
        );
        let mut env = WecEnv::new(
            &root,
            &vars,
            "{}",
            Input {
                status: Some("[1,"),
                ..input
            },
        );
        let Err(BadStatus(e)) = env.evaluate(&collector.select[1].expression) else {
            panic!("expected a bad status");
        };
        assert!(e.starts_with("invalid returned status: "), "{e}");
    }
}
