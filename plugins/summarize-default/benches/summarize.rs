//! Native cost of the plugin logic (the WASM cost is measured through the host's runtime).
//!
//! `cargo bench -p summarize-default`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kubestellar_plugin_sdk::{ClusterContext, Report, Summarizer, Timestamp};
use summarize_default::SummarizeDefault;

const OBJECT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"nginx","namespace":"nginx",
"labels":{"app.kubernetes.io/name":"nginx"}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"nginx"}},
"template":{"metadata":{"labels":{"app":"nginx"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}"#;

/// A realistic Deployment status (about 700 bytes).
fn status(i: usize) -> String {
    format!(
        r#"{{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":{},
"conditions":[{{"type":"Available","status":"True","lastUpdateTime":"2024-05-01T10:00:00Z",
"lastTransitionTime":"2024-05-01T10:00:00Z","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}},
{{"type":"Progressing","status":"True","lastUpdateTime":"2024-05-01T10:00:00Z","lastTransitionTime":"2024-05-01T09:59:00Z",
"reason":"NewReplicaSetAvailable","message":"ReplicaSet \"nginx-5d9c7b\" has successfully progressed."}}]}}"#,
        i % 3
    )
}

fn reports(n: usize) -> Vec<Report> {
    (0..n)
        .map(|i| Report {
            cluster: ClusterContext::named(format!("cluster{i:04}")),
            status: Some(status(i)),
            last_update: Some(Timestamp {
                seconds: 1_700_000_000 + i as i64,
                nanoseconds: 0,
            }),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let reports = reports(1000);
    let cases = [
        (
            "sum_1000",
            r#"{"combinedFields":[{"name":"sum","type":"SUM","subject":"returned.status.availableReplicas"}],"limit":10}"#,
        ),
        (
            "group_count_1000",
            r#"{"groupBy":[{"name":"a","def":"returned.status.availableReplicas"}],"combinedFields":[{"name":"n","type":"COUNT"}],"limit":10}"#,
        ),
        (
            "filter_select_1000",
            r#"{"filter":"obj.spec.replicas == returned.status.availableReplicas","select":[{"name":"wec","def":"inventory.name"}],"limit":2000}"#,
        ),
    ];
    for (name, config) in cases {
        c.bench_function(name, |b| {
            b.iter(|| SummarizeDefault::summarize(black_box(OBJECT), black_box(&reports), config))
        });
    }
    // Fixed cost per call: compiling the expressions and setting up the CEL context.
    let config = cases[2].1;
    c.bench_function("filter_select_0", |b| {
        b.iter(|| SummarizeDefault::summarize(black_box(OBJECT), &[], black_box(config)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
