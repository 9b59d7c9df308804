//! Upsync clauses compiled for matching (shared by the agent, which selects objects in its WEC,
//! and the controller, which reports bad clauses). The predicate is the downsync one
//! ([`CompiledTest`]), plus the Secrets rule: core `secrets` match only a clause with
//! `allowSecrets: true`, and a clause that names `secrets` without it is an error.

use crate::api::UpsyncPolicyClause;
use crate::binding::matching::{CompiledTest, ObjectFacts};

/// One clause of one policy, ready to match.
#[derive(Debug, Clone)]
pub struct CompiledClause {
    /// The BindingPolicy.
    pub policy: String,
    /// Its index in `spec.upsync`.
    pub index: usize,
    test: CompiledTest,
    allow_secrets: bool,
}

/// Whether `(group, resource)` is the core Secrets resource.
pub fn is_secrets(group: &str, resource: &str) -> bool {
    group.is_empty() && resource == "secrets"
}

impl CompiledClause {
    /// Compiles clause `index` of `policy`; problems go to `errors` as
    /// `spec.upsync[<index>]...: <message>`.
    pub fn compile(
        policy: &str,
        index: usize,
        clause: &UpsyncPolicyClause,
        errors: &mut Vec<String>,
    ) -> CompiledClause {
        let path = format!("spec.upsync[{index}]");
        let test = CompiledTest::compile_at(&clause.test(), &path, errors);
        let names_secrets = clause.api_group.as_deref().is_none_or(str::is_empty)
            && clause.resources.iter().any(|r| r == "secrets");
        if names_secrets && !clause.allow_secrets {
            errors.push(format!(
                "{path}.resources: names secrets but allowSecrets is not true; Secrets are not upsynced"
            ));
        }
        CompiledClause {
            policy: policy.to_string(),
            index,
            test,
            allow_secrets: clause.allow_secrets,
        }
    }

    /// Whether objects of `(group, resource)` can match at all.
    pub fn may_match_resource(&self, group: &str, resource: &str) -> bool {
        (self.allow_secrets || !is_secrets(group, resource))
            && self.test.may_match_resource(group, resource)
    }

    /// Whether the object matches.
    pub fn matches(&self, o: &ObjectFacts<'_>) -> bool {
        self.may_match_resource(o.group, o.resource) && self.test.matches(o, &|_| None)
    }
}

/// Compiles every upsync clause of a policy.
pub fn compile_policy(
    policy: &str,
    clauses: &[UpsyncPolicyClause],
    errors: &mut Vec<String>,
) -> Vec<CompiledClause> {
    clauses
        .iter()
        .enumerate()
        .map(|(i, c)| CompiledClause::compile(policy, i, c, errors))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::binding::matching::Labels;
    use serde_json::json;

    fn clause(v: serde_json::Value) -> UpsyncPolicyClause {
        serde_json::from_value(v).unwrap()
    }

    fn facts<'a>(
        group: &'a str,
        resource: &'a str,
        ns: &'a str,
        name: &'a str,
        labels: &'a Labels,
    ) -> ObjectFacts<'a> {
        ObjectFacts {
            group,
            resource,
            namespace: ns,
            name,
            labels,
        }
    }

    #[test]
    fn same_predicate_as_downsync() {
        let mut errors = Vec::new();
        let c = CompiledClause::compile(
            "p",
            0,
            &clause(
                json!({"apiGroup": "", "resources": ["configmaps"], "namespaces": ["a"],
                "objectSelectors": [{"matchLabels": {"up": "yes"}}]}),
            ),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let yes: Labels = [("up".to_string(), "yes".to_string())].into();
        let no = Labels::new();
        assert!(c.matches(&facts("", "configmaps", "a", "x", &yes)));
        assert!(!c.matches(&facts("", "configmaps", "a", "x", &no)));
        assert!(!c.matches(&facts("", "configmaps", "b", "x", &yes)));
        assert!(!c.matches(&facts("apps", "configmaps", "a", "x", &yes)));
        assert!(!c.matches(&facts("", "services", "a", "x", &yes)));
    }

    #[test]
    fn secrets_need_the_opt_in() {
        let l = Labels::new();
        let mut errors = Vec::new();
        let wildcard =
            CompiledClause::compile("p", 0, &clause(json!({"resources": ["*"]})), &mut errors);
        assert!(errors.is_empty(), "a wildcard is not an error: {errors:?}");
        assert!(wildcard.matches(&facts("", "configmaps", "a", "x", &l)));
        assert!(!wildcard.matches(&facts("", "secrets", "a", "x", &l)));
        assert!(!wildcard.may_match_resource("", "secrets"));

        let named = CompiledClause::compile(
            "p",
            2,
            &clause(json!({"resources": ["secrets"]})),
            &mut errors,
        );
        assert_eq!(
            errors,
            vec![
                "spec.upsync[2].resources: names secrets but allowSecrets is not true; Secrets are not upsynced"
            ]
        );
        assert!(!named.matches(&facts("", "secrets", "a", "x", &l)));

        let mut errors = Vec::new();
        let allowed = CompiledClause::compile(
            "p",
            0,
            &clause(json!({"resources": ["secrets"], "allowSecrets": true})),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert!(allowed.matches(&facts("", "secrets", "a", "x", &l)));
        // Another group's "secrets" is not the core kind.
        assert!(wildcard.matches(&facts("example.com", "secrets", "a", "x", &l)));
    }

    #[test]
    fn bad_selectors_are_reported_under_upsync() {
        let mut errors = Vec::new();
        let c = CompiledClause::compile(
            "p",
            1,
            &clause(
                json!({"objectSelectors": [{"matchExpressions": [{"key": "k", "operator": "Bogus"}]}]}),
            ),
            &mut errors,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("spec.upsync[1].objectSelectors[0]: "),
            "{errors:?}"
        );
        let l = Labels::new();
        assert!(!c.matches(&facts("", "configmaps", "a", "x", &l)));
    }
}
