//! StatusCollectors beyond CEL: a user summarizer WasmPlugin (a Rust guest built from
//! `tests/fixtures/region-summarizer`), a failing one, and collectors that cannot be used
//! (CEL that does not compile, a missing plugin, a configuration the plugin rejects), whose
//! problems show on the StatusCollector and the BindingPolicy without disturbing the others.

mod plugin_support;
mod status_support;
mod support;

use serde_json::{Value, json};
use status_support::{Env, NGINX, T, condition, get_json, wait_for};
use support::eventually;

fn results(cs: &Value) -> Vec<Value> {
    cs["results"].as_array().cloned().unwrap_or_default()
}

fn result<'a>(cs: &'a Value, name: &str) -> Option<&'a Value> {
    cs["results"].as_array()?.iter().find(|r| r["name"] == name)
}

fn rows(r: &Value) -> Vec<Value> {
    r["rows"].as_array().cloned().unwrap_or_default()
}

fn collector(name: &str, plugin: &str, config: &str) -> String {
    format!(
        r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {{name: {name}}}
spec:
  plugin: {{name: {plugin}, config: {config}}}
  limit: 20
"#
    )
}

const POLICY: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: BindingPolicy
metadata: {name: nginx-plugins}
spec:
  clusterSelectors: [{matchLabels: {location-group: edge}}]
  downsync:
  - objectSelectors: [{matchLabels: {app.kubernetes.io/name: nginx}}]
    statusCollectors: [by-region, broken, count-wecs, bad-cel, no-plugin, bad-config]
"#;

const COUNT_WECS: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: count-wecs}
spec:
  combinedFields: [{name: wecs, type: COUNT}]
  limit: 20
"#;

const BAD_CEL: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: bad-cel}
spec:
  select: [{name: x, def: "returned.status.("}]
  limit: 20
"#;

const GOOD_CEL: &str = r#"
apiVersion: control.kubestellar.io/v1alpha1
kind: StatusCollector
metadata: {name: bad-cel}
spec:
  select: [{name: x, def: "inventory.name"}]
  limit: 20
"#;

fn sc_errors(env: &Env, name: &str) -> Vec<String> {
    get_json(&env.wds(), &["statuscollector", name])
        .and_then(|sc| sc["status"]["errors"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(String::from))
        .collect()
}

#[test]
fn user_summarizers_run_and_bad_collectors_are_reported() {
    let wasm = plugin_support::fixture_path("region_summarizer");
    let mut env = Env::start(2, true);
    env.start_status();
    let wds = env.wds();
    wds.apply(NGINX);
    wds.apply(&format!(
        "apiVersion: control.kubestellar.io/v1alpha1\nkind: WasmPlugin\nmetadata: {{name: region-summary}}\nspec: {{source: \"file://{}\"}}\n",
        wasm.display()
    ));
    wds.apply(&collector("by-region", "region-summary", "{label: region}"));
    wds.apply(&collector(
        "broken",
        "region-summary",
        "{fail: the summarizer gave up}",
    ));
    wds.apply(&collector("no-plugin", "absent", "{}"));
    wds.apply(&collector("bad-config", "region-summary", "{label: 5}"));
    wds.apply(COUNT_WECS);
    wds.apply(BAD_CEL);
    wds.apply(POLICY);

    let (d, p) = eventually(T, "the Deployment and the BindingPolicy", || {
        let d = get_json(&wds, &["deployment", "nginx", "-n", "nginx"])?;
        let p = get_json(&wds, &["bindingpolicy", "nginx-plugins"])?;
        Some((
            d["metadata"]["uid"].as_str()?.to_string(),
            p["metadata"]["uid"].as_str()?.to_string(),
        ))
    });
    let name = format!("{d}.{p}");
    let cs = wait_for(
        &wds,
        &["cs", &name, "-n", "nginx"],
        "results of the usable collectors",
        |cs| {
            result(cs, "by-region").is_some_and(|r| {
                rows(r).iter().all(|row| row["columns"][2]["float"] == "1") && rows(r).len() == 2
            }) && result(cs, "count-wecs").is_some()
                && result(cs, "broken").is_some()
        },
    );
    // Only the usable collectors have results, sorted by name.
    let names: Vec<String> = results(&cs)
        .iter()
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    assert_eq!(names, ["broken", "by-region", "count-wecs"]);
    // The user plugin saw the WECs' labels and properties.
    let by_region = result(&cs, "by-region").cloned().unwrap_or_default();
    assert_eq!(
        by_region["columnNames"],
        json!(["region", "wecs", "ready", "urls"])
    );
    assert_eq!(
        rows(&by_region),
        vec![
            json!({"columns": [{"type": "String", "string": "east"}, {"type": "Number", "float": "1"}, {"type": "Number", "float": "1"},
                {"type": "Array", "array": ["https://my.clusters/1001-abcd"]}]}),
            json!({"columns": [{"type": "String", "string": "west"}, {"type": "Number", "float": "1"}, {"type": "Number", "float": "1"},
                {"type": "Array", "array": ["https://my.clusters/2002-cdef"]}]}),
        ]
    );
    // The failing summarizer's error is visible in its own result; the others are unaffected.
    let broken = result(&cs, "broken").cloned().unwrap_or_default();
    let err = broken["aggregationErrors"][0]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(err.contains("the summarizer gave up"), "{broken}");
    assert_eq!(
        result(&cs, "count-wecs").map(rows),
        Some(vec![json!({"columns": [{"type": "Number", "float": "2"}]})])
    );

    // Unusable collectors: their problems on their status, named in the policy's condition.
    let bad = eventually(T, "the CEL error", || {
        Some(sc_errors(&env, "bad-cel")).filter(|e| !e.is_empty())
    });
    assert!(
        bad[0].starts_with("select expression (x) invalid: "),
        "{bad:?}"
    );
    let missing = eventually(T, "the missing plugin", || {
        Some(sc_errors(&env, "no-plugin")).filter(|e| !e.is_empty())
    });
    assert_eq!(missing, ["spec.plugin: WasmPlugin absent not found"]);
    let config = eventually(T, "the rejected config", || {
        Some(sc_errors(&env, "bad-config")).filter(|e| !e.is_empty())
    });
    assert_eq!(config, ["spec.plugin.config.label: must be a string"]);
    assert!(sc_errors(&env, "by-region").is_empty() && sc_errors(&env, "count-wecs").is_empty());
    let sc = get_json(&wds, &["statuscollector", "bad-cel"]).unwrap_or_default();
    assert_eq!(
        sc["status"]["observedGeneration"],
        sc["metadata"]["generation"]
    );
    wait_for(
        &wds,
        &["bindingpolicy", "nginx-plugins"],
        "the policy names the unusable collectors",
        |p| {
            condition(p, "StatusCollectorsAvailable").is_some_and(|c| {
                c["status"] == "False"
                    && c["reason"] == "ReconcileError"
                    && c["message"] == "Missing StatusCollector(s) [bad-cel bad-config no-plugin]"
            })
        },
    );

    // Fixing the CEL clears its errors and adds its result.
    wds.apply(GOOD_CEL);
    wait_for(
        &wds,
        &["cs", &name, "-n", "nginx"],
        "the fixed collector's result",
        |cs| result(cs, "bad-cel").is_some_and(|r| rows(r).len() == 2),
    );
    eventually(T, "errors cleared", || {
        sc_errors(&env, "bad-cel").is_empty().then_some(())
    });
    wait_for(
        &wds,
        &["bindingpolicy", "nginx-plugins"],
        "one fewer missing",
        |p| {
            condition(p, "StatusCollectorsAvailable").is_some_and(|c| {
                c["message"] == "Missing StatusCollector(s) [bad-config no-plugin]"
            })
        },
    );
}
