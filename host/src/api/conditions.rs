//! Conditions in the shape KubeStellar and OCM use, with kube's transition-time rule.

use serde::{Deserialize, Serialize};

/// A status condition (`BindingPolicyCondition`, OCM and metav1 conditions share this shape).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition stamped now.
    pub fn new(type_: &str, status: bool, reason: &str, message: impl Into<String>) -> Condition {
        Condition {
            type_: type_.into(),
            status: if status { "True" } else { "False" }.into(),
            last_transition_time: now(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: None,
        }
    }
}

/// Current time as kube prints it.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Sets `new` in `conditions`, keeping the old `lastTransitionTime` when type, status, reason and
/// message are all unchanged (so that re-asserting a condition is not a change).
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) => {
            if old.status == new.status && old.reason == new.reason && old.message == new.message {
                new.last_transition_time = old.last_transition_time.clone();
            }
            *old = new;
        }
        None => conditions.push(new),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_condition_keeps_its_time() {
        let mut cs = vec![Condition {
            last_transition_time: "2020-01-01T00:00:00Z".into(),
            ..Condition::new("Ready", true, "Ok", "fine")
        }];
        set_condition(&mut cs, Condition::new("Ready", true, "Ok", "fine"));
        assert_eq!(cs[0].last_transition_time, "2020-01-01T00:00:00Z");
        set_condition(&mut cs, Condition::new("Ready", false, "Bad", "broken"));
        assert_ne!(cs[0].last_transition_time, "2020-01-01T00:00:00Z");
        set_condition(&mut cs, Condition::new("Synced", true, "Ok", ""));
        assert_eq!(cs.len(), 2);
    }
}
