//! Small helpers shared by the simulated kinds: conditions that keep their times while they do
//! not change, kube-style hashes and names, integer reads, and the merge patch between two
//! statuses.

use serde_json::{Map, Value, json};

/// Which time fields a kind's conditions carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CondTimes {
    /// Deployments: `lastUpdateTime` (changes with reason or message) and `lastTransitionTime`.
    Update,
    /// Jobs: `lastProbeTime` and `lastTransitionTime`.
    Probe,
    /// Pods: `lastProbeTime: null` and `lastTransitionTime`.
    PodProbe,
    /// Nodes: `lastHeartbeatTime` and `lastTransitionTime`.
    Heartbeat,
}

/// One wanted condition.
pub(crate) struct Cond<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub message: Option<&'a str>,
}

/// Builds conditions, reusing the times of the current status's condition of the same type so
/// that recomputing an unchanged status gives the same value (and so no write).
pub(crate) fn conditions(
    current: &Value,
    wanted: &[Cond<'_>],
    times: CondTimes,
    now: &str,
) -> Value {
    let existing = current["conditions"].as_array();
    let find = |t: &str| existing.and_then(|a| a.iter().find(|c| c["type"] == t));
    let out: Vec<Value> = wanted
        .iter()
        .map(|w| {
            let old = find(w.type_);
            let same_status = old.is_some_and(|o| o["status"] == w.status);
            let same_text = same_status
                && old.is_some_and(|o| {
                    o["reason"].as_str() == w.reason && o["message"].as_str() == w.message
                });
            let keep = |field: &str, same: bool| -> Value {
                match old.and_then(|o| o.get(field)).filter(|v| v.is_string()) {
                    Some(v) if same => v.clone(),
                    _ => json!(now),
                }
            };
            let mut c = Map::new();
            c.insert("type".into(), json!(w.type_));
            c.insert("status".into(), json!(w.status));
            if let Some(r) = w.reason {
                c.insert("reason".into(), json!(r));
            }
            if let Some(m) = w.message {
                c.insert("message".into(), json!(m));
            }
            c.insert(
                "lastTransitionTime".into(),
                keep("lastTransitionTime", same_status),
            );
            match times {
                CondTimes::Update => {
                    c.insert("lastUpdateTime".into(), keep("lastUpdateTime", same_text));
                }
                CondTimes::Probe => {
                    c.insert("lastProbeTime".into(), keep("lastProbeTime", same_text));
                }
                CondTimes::PodProbe => {
                    c.insert("lastProbeTime".into(), Value::Null);
                }
                CondTimes::Heartbeat => {
                    c.insert(
                        "lastHeartbeatTime".into(),
                        keep("lastHeartbeatTime", same_status),
                    );
                }
            }
            Value::Object(c)
        })
        .collect();
    Value::Array(out)
}

/// An integer field, or `default` when absent or not an integer.
pub(crate) fn int(v: &Value, default: i64) -> i64 {
    v.as_i64().unwrap_or(default)
}

/// Puts `n` into `o` under `key` unless it is zero (kube's `omitempty` on int32 fields).
pub(crate) fn put_nonzero(o: &mut Map<String, Value>, key: &str, n: i64) {
    if n != 0 {
        o.insert(key.into(), json!(n));
    }
}

/// 32-bit FNV-1a over a canonical rendering of `v` (object keys sorted), so that the same
/// content hashes the same however its keys were ordered.
pub(crate) fn fnv32(v: &Value) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    };
    canonical(v, &mut feed);
    h
}

fn canonical(v: &Value, feed: &mut dyn FnMut(&[u8])) {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            feed(b"{");
            for k in keys {
                feed(k.as_bytes());
                feed(b":");
                canonical(&o[k.as_str()], feed);
                feed(b",");
            }
            feed(b"}");
        }
        Value::Array(a) => {
            feed(b"[");
            for e in a {
                canonical(e, feed);
                feed(b",");
            }
            feed(b"]");
        }
        other => feed(other.to_string().as_bytes()),
    }
}

/// kube's `rand.SafeEncodeString` of the decimal hash: the form of `pod-template-hash` and of
/// controller revision suffixes (`7c5ddbdf54`).
pub(crate) fn template_hash(template: &Value) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    fnv32(template)
        .to_string()
        .bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// A deterministic lowercase hex string of `len` characters derived from `seed` (fake
/// container IDs and image digests).
pub(crate) fn hex_id(seed: &str, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut round = 0u32;
    while out.len() < len {
        let h = fnv32(&json!([seed, round]));
        out.push_str(&format!("{h:08x}"));
        round += 1;
    }
    out.truncate(len);
    out
}

/// The JSON merge patch (RFC 7386) that turns `current` into `wanted`, or `None` when they are
/// equal. Arrays are replaced whole; keys only in `current` are set to null.
pub(crate) fn merge_diff(current: &Value, wanted: &Value) -> Option<Value> {
    if current == wanted {
        return None;
    }
    match (current, wanted) {
        (Value::Object(c), Value::Object(w)) => {
            let mut patch = Map::new();
            for (k, wv) in w {
                match c.get(k) {
                    Some(cv) => {
                        if let Some(d) = merge_diff(cv, wv) {
                            patch.insert(k.clone(), d);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), wv.clone());
                    }
                }
            }
            for k in c.keys() {
                if !w.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        _ => Some(wanted.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_keep_times_until_they_change() {
        let cur = json!({"conditions": [
            {"type": "Available", "status": "True", "reason": "A", "message": "m",
             "lastTransitionTime": "t0", "lastUpdateTime": "t1"}
        ]});
        let same = conditions(
            &cur,
            &[Cond {
                type_: "Available",
                status: "True",
                reason: Some("A"),
                message: Some("m"),
            }],
            CondTimes::Update,
            "now",
        );
        assert_eq!(same[0]["lastTransitionTime"], "t0");
        assert_eq!(same[0]["lastUpdateTime"], "t1");
        let text = conditions(
            &cur,
            &[Cond {
                type_: "Available",
                status: "True",
                reason: Some("B"),
                message: Some("m"),
            }],
            CondTimes::Update,
            "now",
        );
        assert_eq!(text[0]["lastTransitionTime"], "t0");
        assert_eq!(text[0]["lastUpdateTime"], "now");
        let flip = conditions(
            &cur,
            &[Cond {
                type_: "Available",
                status: "False",
                reason: Some("A"),
                message: Some("m"),
            }],
            CondTimes::Update,
            "now",
        );
        assert_eq!(flip[0]["lastTransitionTime"], "now");
        let pod = conditions(
            &json!({}),
            &[Cond {
                type_: "Ready",
                status: "True",
                reason: None,
                message: None,
            }],
            CondTimes::PodProbe,
            "now",
        );
        assert_eq!(
            pod[0],
            json!({"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "now"})
        );
    }

    #[test]
    fn hashes_look_like_kube_and_ignore_key_order() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": {"c": [1, 2]}}"#).expect("json");
        let b: Value = serde_json::from_str(r#"{"b": {"c": [1, 2]}, "a": 1}"#).expect("json");
        assert_eq!(template_hash(&a), template_hash(&b));
        assert_ne!(template_hash(&a), template_hash(&json!({"a": 2})));
        let h = template_hash(&a);
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(
            h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{h}"
        );
        assert_eq!(hex_id("x", 64).len(), 64);
        assert_eq!(hex_id("x", 64), hex_id("x", 64));
        assert_ne!(hex_id("x", 12), hex_id("y", 12));
    }

    #[test]
    fn merge_diff_round_trips() {
        let cur = json!({"a": 1, "b": {"c": 1, "d": 2}, "e": [1], "gone": true});
        let want = json!({"a": 1, "b": {"c": 3}, "e": [1, 2], "f": {}});
        let p = merge_diff(&cur, &want).expect("differs");
        assert_eq!(
            p,
            json!({"b": {"c": 3, "d": null}, "e": [1, 2], "f": {}, "gone": null})
        );
        let mut doc = cur.clone();
        json_patch::merge(&mut doc, &p);
        assert_eq!(doc, want);
        assert_eq!(merge_diff(&want, &want), None);
    }
}
