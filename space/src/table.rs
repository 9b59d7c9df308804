//! Server-side `Table` rendering for `kubectl get`: kubectl's usual columns for the built-in
//! kinds, and `additionalPrinterColumns` for custom resources.

use serde_json::{Value, json};

use crate::registry::{PrinterColumn, ResourceInfo};

/// A column: (name, type, format, priority, description).
struct Col(&'static str, &'static str, &'static str, i64, &'static str);

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.";
const AGE_DESC: &str =
    "CreationTimestamp is a timestamp representing the server time when this object was created.";

fn builtin_columns(r: &ResourceInfo) -> Vec<Col> {
    let name = Col("Name", "string", "name", 0, NAME_DESC);
    let age = Col("Age", "string", "", 0, AGE_DESC);
    let mut cols = vec![name];
    let extra: Vec<Col> = match (r.group.as_str(), r.resource.as_str()) {
        ("", "namespaces") => vec![Col(
            "Status",
            "string",
            "",
            0,
            "The status of the namespace",
        )],
        ("", "configmaps") => vec![Col("Data", "string", "", 0, "Number of data items")],
        ("", "secrets") => vec![
            Col("Type", "string", "", 0, "The type of secret"),
            Col("Data", "string", "", 0, "Number of data items"),
        ],
        ("", "serviceaccounts") => vec![Col("Secrets", "string", "", 0, "Number of secrets")],
        ("", "pods") => vec![
            Col(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            Col(
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            Col(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted.",
            ),
        ],
        ("", "services") => vec![
            Col("Type", "string", "", 0, "The type of service."),
            Col("Cluster-IP", "string", "", 0, "The IP of the service."),
            Col(
                "External-IP",
                "string",
                "",
                0,
                "The external IPs of the service.",
            ),
            Col("Port(s)", "string", "", 0, "The ports of the service."),
        ],
        ("apps", "deployments") => vec![
            Col(
                "Ready",
                "string",
                "",
                0,
                "Number of the pod with ready state",
            ),
            Col(
                "Up-to-date",
                "string",
                "",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            Col(
                "Available",
                "string",
                "",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
        ],
        ("apps", "replicasets") | ("", "replicationcontrollers") => vec![
            Col("Desired", "integer", "", 0, "Number of desired pods."),
            Col("Current", "integer", "", 0, "Number of actual replicas."),
            Col("Ready", "integer", "", 0, "Number of ready replicas."),
        ],
        ("apps", "statefulsets") => vec![Col(
            "Ready",
            "string",
            "",
            0,
            "Number of the pod with ready state",
        )],
        ("apps", "daemonsets") => vec![
            Col(
                "Desired",
                "integer",
                "",
                0,
                "The total number of nodes that should be running the daemon pod.",
            ),
            Col(
                "Current",
                "integer",
                "",
                0,
                "The number of nodes that are running at least 1 daemon pod.",
            ),
            Col(
                "Ready",
                "integer",
                "",
                0,
                "The number of nodes running the daemon pod that are ready.",
            ),
            Col(
                "Up-to-date",
                "integer",
                "",
                0,
                "The number of nodes running the updated daemon pod.",
            ),
            Col(
                "Available",
                "integer",
                "",
                0,
                "The number of nodes running the daemon pod that are available.",
            ),
        ],
        ("batch", "jobs") => vec![
            Col("Status", "string", "", 0, "Status of the job."),
            Col(
                "Completions",
                "string",
                "",
                0,
                "The desired number of successfully finished pods the job should be run with.",
            ),
            Col(
                "Duration",
                "string",
                "",
                0,
                "Time required to complete the job.",
            ),
        ],
        ("batch", "cronjobs") => vec![
            Col("Schedule", "string", "", 0, "The schedule in Cron format."),
            Col(
                "Suspend",
                "boolean",
                "",
                0,
                "Whether the cron job is suspended.",
            ),
            Col(
                "Active",
                "integer",
                "",
                0,
                "Number of currently running jobs.",
            ),
            Col(
                "Last Schedule",
                "string",
                "",
                0,
                "When the job was last scheduled.",
            ),
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            return vec![
                Col("Name", "string", "name", 0, NAME_DESC),
                Col("Created At", "date", "", 0, AGE_DESC),
            ];
        }
        _ => vec![],
    };
    cols.extend(extra);
    cols.push(age);
    cols
}

fn builtin_cells(r: &ResourceInfo, o: &Value, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let name = json!(o["metadata"]["name"].as_str().unwrap_or_default());
    let age = json!(age(o, now));
    let spec = &o["spec"];
    let st = &o["status"];
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let extra: Vec<Value> = match (r.group.as_str(), r.resource.as_str()) {
        ("", "namespaces") => vec![json!(st["phase"].as_str().unwrap_or_default())],
        ("", "configmaps") => {
            let n = o["data"].as_object().map_or(0, |d| d.len())
                + o["binaryData"].as_object().map_or(0, |d| d.len());
            vec![json!(n)]
        }
        ("", "secrets") => vec![
            json!(o["type"].as_str().unwrap_or_default()),
            json!(o["data"].as_object().map_or(0, |d| d.len())),
        ],
        ("", "serviceaccounts") => vec![json!(o["secrets"].as_array().map_or(0, |d| d.len()))],
        ("", "pods") => {
            let cs = st["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = spec["containers"].as_array().map_or(0, |c| c.len());
            let ready = cs
                .iter()
                .filter(|c| c["ready"].as_bool() == Some(true))
                .count();
            let restarts: i64 = cs.iter().map(|c| int(&c["restartCount"])).sum();
            let phase = if o["metadata"]["deletionTimestamp"].is_string() {
                "Terminating"
            } else {
                st["phase"].as_str().unwrap_or("Pending")
            };
            vec![
                json!(format!("{ready}/{total}")),
                json!(phase),
                json!(restarts),
            ]
        }
        ("", "services") => {
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            let proto = p["protocol"].as_str().unwrap_or("TCP");
                            match p["nodePort"].as_i64() {
                                Some(np) => format!("{}:{np}/{proto}", int(&p["port"])),
                                None => format!("{}/{proto}", int(&p["port"])),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            let external = match spec["type"].as_str() {
                Some("LoadBalancer") => "<pending>".to_string(),
                Some("ExternalName") => spec["externalName"]
                    .as_str()
                    .unwrap_or("<none>")
                    .to_string(),
                _ => "<none>".to_string(),
            };
            vec![
                json!(spec["type"].as_str().unwrap_or("ClusterIP")),
                json!(spec["clusterIP"].as_str().unwrap_or("<none>")),
                json!(external),
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                }),
            ]
        }
        ("apps", "deployments") => vec![
            json!(format!(
                "{}/{}",
                int(&st["readyReplicas"]),
                int(&spec["replicas"])
            )),
            json!(int(&st["updatedReplicas"])),
            json!(int(&st["availableReplicas"])),
        ],
        ("apps", "replicasets") | ("", "replicationcontrollers") => {
            vec![
                json!(int(&spec["replicas"])),
                json!(int(&st["replicas"])),
                json!(int(&st["readyReplicas"])),
            ]
        }
        ("apps", "statefulsets") => vec![json!(format!(
            "{}/{}",
            int(&st["readyReplicas"]),
            int(&spec["replicas"])
        ))],
        ("apps", "daemonsets") => vec![
            json!(int(&st["desiredNumberScheduled"])),
            json!(int(&st["currentNumberScheduled"])),
            json!(int(&st["numberReady"])),
            json!(int(&st["updatedNumberScheduled"])),
            json!(int(&st["numberAvailable"])),
        ],
        ("batch", "jobs") => {
            let done = st["conditions"].as_array().and_then(|cs| {
                cs.iter().find(|c| {
                    c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed")
                })
            });
            let status = match done.map(|c| c["type"].as_str().unwrap_or_default()) {
                Some("Complete") => "Complete",
                Some("Failed") => "Failed",
                _ if spec["suspend"].as_bool() == Some(true) => "Suspended",
                _ => "Running",
            };
            let completions = spec["completions"]
                .as_i64()
                .map_or("<none>".to_string(), |c| c.to_string());
            let duration = match (
                st["startTime"].as_str().and_then(parse_time),
                st["completionTime"].as_str().and_then(parse_time),
            ) {
                (Some(s), Some(e)) => human_duration((e - s).num_seconds()),
                (Some(s), None) => human_duration((now - s).num_seconds()),
                _ => String::new(),
            };
            vec![
                json!(status),
                json!(format!("{}/{completions}", int(&st["succeeded"]))),
                json!(duration),
            ]
        }
        ("batch", "cronjobs") => vec![
            json!(spec["schedule"].as_str().unwrap_or_default()),
            json!(spec["suspend"].as_bool().unwrap_or(false)),
            json!(st["active"].as_array().map_or(0, |a| a.len())),
            json!(
                st["lastScheduleTime"]
                    .as_str()
                    .and_then(parse_time)
                    .map_or("<none>".to_string(), |t| human_duration(
                        (now - t).num_seconds()
                    ))
            ),
        ],
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            return vec![
                name,
                json!(
                    o["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                ),
            ];
        }
        _ => vec![],
    };
    let mut cells = vec![name];
    cells.extend(extra);
    cells.push(age);
    cells
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

fn age(o: &Value, now: chrono::DateTime<chrono::Utc>) -> String {
    match o["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(parse_time)
    {
        Some(t) => human_duration((now - t).num_seconds()),
        None => "<unknown>".into(),
    }
}

/// kube's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 * 2 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rem = s % 60;
        return if rem == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rem}s")
        };
    }
    if m < 60 * 3 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        let rem = m % 60;
        return if rem == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rem}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let rem = h % 24;
        return if rem == 0 {
            format!("{}d", h / 24)
        } else {
            format!("{}d{rem}h", h / 24)
        };
    }
    if h < 24 * 365 * 2 {
        return format!("{}d", h / 24);
    }
    let y = h / (24 * 365);
    if y < 8 {
        let d = (h / 24) % 365;
        return if d == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{d}d")
        };
    }
    format!("{y}y")
}

fn crd_columns(cols: &[PrinterColumn]) -> Vec<Value> {
    let mut out = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0}),
    ];
    for c in cols {
        out.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    out
}

fn crd_cells(cols: &[PrinterColumn], o: &Value, now: chrono::DateTime<chrono::Utc>) -> Vec<Value> {
    let mut cells = vec![json!(o["metadata"]["name"].as_str().unwrap_or_default())];
    for c in cols {
        let vals = crate::jsonpath::eval(o, &c.json_path);
        let v = vals.into_iter().next().cloned().unwrap_or(Value::Null);
        let cell = match (c.type_.as_str(), &v) {
            ("date", Value::String(s)) => parse_time(s).map_or(v.clone(), |t| {
                json!(human_duration((now - t).num_seconds()))
            }),
            (_, Value::Object(_) | Value::Array(_)) => json!(v.to_string()),
            _ => v,
        };
        cells.push(cell);
    }
    cells
}

/// The column definitions of a resource.
pub fn columns(r: &ResourceInfo) -> Vec<Value> {
    if r.is_custom() {
        if r.printer_columns.is_empty() {
            let age = PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                description: AGE_DESC.into(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            };
            return crd_columns(&[age]);
        }
        return crd_columns(&r.printer_columns);
    }
    builtin_columns(r)
        .into_iter()
        .map(|Col(n, t, f, p, d)| json!({"name": n, "type": t, "format": f, "description": d, "priority": p}))
        .collect()
}

/// One row for an object; `include_object` is `None`, `Metadata` or `Object`.
pub fn row(r: &ResourceInfo, o: &Value, include_object: &str) -> Value {
    let now = chrono::Utc::now();
    let cells = if r.is_custom() {
        if r.printer_columns.is_empty() {
            vec![
                json!(o["metadata"]["name"].as_str().unwrap_or_default()),
                json!(age(o, now)),
            ]
        } else {
            crd_cells(&r.printer_columns, o, now)
        }
    } else {
        builtin_cells(r, o, now)
    };
    let object = match include_object {
        "None" => Value::Null,
        "Object" => o.clone(),
        _ => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
        }
    };
    let mut row = json!({"cells": cells});
    if !object.is_null() {
        row["object"] = object;
    }
    row
}

/// A whole Table.
pub fn table(
    r: &ResourceInfo,
    objects: &[Value],
    rv: u64,
    cont: Option<&str>,
    include_object: &str,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(r, o, include_object)).collect();
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns(r), "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_like_kube() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(60 * 30), "30m");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(3600 * 24 * 3), "3d");
        assert_eq!(human_duration(3600 * 24 * 400), "400d");
    }
}
