//! The HTTP API seen raw: bad input gets the Status error kube-apiserver gives (4xx, never a
//! 5xx or a partial write), field validation, dry runs, server-set metadata, conflicts,
//! content negotiation, HTTP/2, and the OpenAPI and discovery documents.

mod support;

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::TestSpace;
use support::http::{CMS, Request, cm, snapshot, status};

/// kubectl 1.33's protobuf body for `ConfigMap cm1` (apimachinery's recorded fixture).
const CONFIGMAP_PB: &[u8] = &[
    0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x43, 0x6f, 0x6e, 0x66,
    0x69, 0x67, 0x4d, 0x61, 0x70, 0x12, 0x37, 0x0a, 0x13, 0x0a, 0x03, 0x63, 0x6d, 0x31, 0x12, 0x00,
    0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12, 0x06, 0x0a, 0x01,
    0x61, 0x12, 0x01, 0x62, 0x12, 0x09, 0x0a, 0x05, 0x65, 0x6d, 0x70, 0x74, 0x79, 0x12, 0x00, 0x1a,
    0x0d, 0x0a, 0x03, 0x62, 0x69, 0x6e, 0x12, 0x06, 0x61, 0x62, 0x63, 0x00, 0x01, 0xff, 0x1a, 0x00,
    0x22, 0x00,
];

const PB: &str = "application/vnd.kubernetes.protobuf";

#[test]
fn bad_bodies_get_kube_errors_and_write_nothing() {
    let s = TestSpace::start();
    let a = s.addr();
    let a = a.as_str();
    let before = snapshot(a);
    let post = |ct: &str, body: &[u8]| {
        Request::new(a, "POST", CMS)
            .header("Content-Type", ct)
            .body(body.to_vec())
            .send()
    };

    status(
        &post("application/json", b"{\"apiVersion\": \"v1\", "),
        400,
        "BadRequest",
    );
    status(&post("application/json", b"[1, 2]"), 400, "BadRequest");
    status(
        &post("application/json", b"\"a string\""),
        400,
        "BadRequest",
    );
    status(&post("application/json", b""), 400, "BadRequest");
    status(
        &post("application/yaml", b"metadata: [unclosed"),
        400,
        "BadRequest",
    );
    status(&post(PB, b"k8s\0\xff\xff\xff\xff\xff"), 400, "BadRequest");
    status(&post(PB, &CONFIGMAP_PB[..40]), 400, "BadRequest");
    status(&post(PB, b"not protobuf at all"), 400, "BadRequest");
    let m = status(&post("text/plain", b"hello"), 415, "UnsupportedMediaType");
    assert!(m.contains("application/json"), "{m}");
    // A protobuf ConfigMap sent to the Secrets URL is the wrong kind.
    let r = Request::new(a, "POST", "/api/v1/namespaces/default/secrets")
        .header("Content-Type", PB)
        .body(CONFIGMAP_PB.to_vec())
        .send();
    let m = status(&r, 400, "BadRequest");
    assert!(m.contains("ConfigMap") && m.contains("Secret"), "{m}");
    // JSON of the wrong kind, or for another namespace.
    let mut wrong = cm("x");
    wrong["kind"] = json!("Secret");
    status(
        &Request::new(a, "POST", CMS).json(&wrong).send(),
        400,
        "BadRequest",
    );
    let mut elsewhere = cm("x");
    elsewhere["metadata"]["namespace"] = json!("kube-system");
    let m = status(
        &Request::new(a, "POST", CMS).json(&elsewhere).send(),
        400,
        "BadRequest",
    );
    assert!(m.contains("does not match the namespace"), "{m}");
    // Unknown fields under Strict.
    let mut unknown = cm("x");
    unknown["dataz"] = json!({"a": "b"});
    let m = status(
        &Request::new(a, "POST", &format!("{CMS}?fieldValidation=Strict"))
            .json(&unknown)
            .send(),
        400,
        "BadRequest",
    );
    assert_eq!(m, "strict decoding error: unknown field \"dataz\"");
    // Invalid names and labels: 422 with causes.
    let r = Request::new(a, "POST", CMS).json(&cm("Not_A_Name")).send();
    let m = status(&r, 422, "Invalid");
    assert!(
        m.starts_with(
            "ConfigMap \"Not_A_Name\" is invalid: metadata.name: Invalid value: \"Not_A_Name\""
        ),
        "{m}"
    );
    assert_eq!(r.json()["details"]["causes"][0]["field"], "metadata.name");
    let mut bad_label = cm("x");
    bad_label["metadata"]["labels"] = json!({"ok": "not a valid value!"});
    let r = Request::new(a, "POST", CMS).json(&bad_label).send();
    status(&r, 422, "Invalid");
    assert_eq!(r.json()["details"]["causes"][0]["field"], "metadata.labels");
    let mut no_name = cm("x");
    no_name["metadata"] = json!({});
    status(
        &Request::new(a, "POST", CMS).json(&no_name).send(),
        422,
        "Invalid",
    );
    // Oversized bodies.
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    status(
        &post("application/json", &big),
        413,
        "RequestEntityTooLarge",
    );
    // Unknown resources, groups, versions and paths.
    for p in [
        "/api/v1/namespaces/default/gizmos",
        "/apis/nope.io/v1/things",
        "/api/v2/pods",
        "/nothing/here",
    ] {
        let m = status(&Request::new(a, "GET", p).send(), 404, "NotFound");
        assert_eq!(m, "the server could not find the requested resource");
    }
    // Methods a resource does not serve.
    status(
        &Request::new(a, "PUT", CMS).json(&cm("x")).send(),
        405,
        "MethodNotAllowed",
    );
    // Bad query parameters.
    status(
        &Request::new(a, "GET", &format!("{CMS}?labelSelector=a%20in%20(")).send(),
        400,
        "BadRequest",
    );
    status(
        &Request::new(a, "GET", &format!("{CMS}?limit=abc")).send(),
        400,
        "BadRequest",
    );
    status(
        &Request::new(a, "GET", &format!("{CMS}?continue=garbage")).send(),
        400,
        "BadRequest",
    );
    status(
        &Request::new(a, "POST", &format!("{CMS}?fieldValidation=Maybe"))
            .json(&cm("x"))
            .send(),
        400,
        "BadRequest",
    );
    status(
        &Request::new(a, "POST", &format!("{CMS}?dryRun=Some"))
            .json(&cm("x"))
            .send(),
        400,
        "BadRequest",
    );
    // Only protobuf acceptable: 406.
    status(
        &Request::new(a, "GET", CMS).header("Accept", PB).send(),
        406,
        "NotAcceptable",
    );

    assert_eq!(snapshot(a), before, "no write happened");
    // The protobuf body itself is fine.
    let r = post(PB, CONFIGMAP_PB);
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["data"], json!({"a": "b", "empty": ""}));
    assert_eq!(created["binaryData"]["bin"], "YWJjAAH/");
}

#[test]
fn random_garbage_never_gets_a_server_error() {
    let s = TestSpace::start();
    let a = s.addr();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let paths = [
        CMS.to_string(),
        format!("{CMS}/c1"),
        "/apis/apps/v1/namespaces/default/deployments".into(),
        "/apis/apps/v1/namespaces/default/deployments/d1".into(),
        "/apis/apps/v1/namespaces/default/deployments/d1/status".into(),
        "/apis/apps/v1/namespaces/default/deployments/d1/scale".into(),
        "/api/v1/namespaces".into(),
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions".into(),
    ];
    Request::new(&a, "POST", CMS).json(&cm("c1")).send();
    let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d1"}, "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    assert_eq!(
        Request::new(&a, "POST", "/apis/apps/v1/namespaces/default/deployments")
            .json(&d)
            .send()
            .status,
        201
    );
    let cts = [
        "application/json",
        "application/yaml",
        PB,
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ];
    let fragments: [&[u8]; 10] = [
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"metadata\":",
        b"{\"spec\":{\"replicas\":",
        b"null",
        b"k8s\0",
        b"\xff\x00\x12",
        b"-1e999",
    ];
    for i in 0..400 {
        let path = &paths[rng.random_range(0..paths.len())];
        let method = ["POST", "PUT", "PATCH", "DELETE"][rng.random_range(0..4)];
        let ct = cts[rng.random_range(0..cts.len())];
        let mut body = Vec::new();
        for _ in 0..rng.random_range(0..8) {
            body.extend_from_slice(fragments[rng.random_range(0..fragments.len())]);
            if rng.random_bool(0.3) {
                body.push(rng.random());
            }
        }
        if rng.random_bool(0.2) {
            // Valid JSON of the wrong shape.
            body = json!({"spec": [1, {"x": null}], "metadata": {"name": 5, "labels": [1]}, "status": "x"}).to_string().into_bytes();
        }
        let r = Request::new(&a, method, &format!("{path}?fieldManager=fuzz"))
            .header("Content-Type", ct)
            .body(body.clone())
            .send();
        assert!(
            r.status < 500,
            "request {i}: {method} {path} [{ct}] {:?} got {}: {}",
            String::from_utf8_lossy(&body),
            r.status,
            r.text()
        );
    }
    // The server still works.
    assert_eq!(Request::new(&a, "GET", "/readyz").send().text(), "ok");
}

#[test]
fn field_validation_modes_and_dry_run() {
    let s = TestSpace::start();
    let a = s.addr();
    let mut unknown = cm("warned");
    unknown["dataz"] = json!(1);
    let r = Request::new(&a, "POST", &format!("{CMS}?fieldValidation=Warn"))
        .json(&unknown)
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("warning"),
        Some("299 - \"unknown field \\\"dataz\\\"\"")
    );
    assert!(r.json().get("dataz").is_none());
    let mut unknown = cm("ignored");
    unknown["dataz"] = json!(1);
    let r = Request::new(&a, "POST", &format!("{CMS}?fieldValidation=Ignore"))
        .json(&unknown)
        .send();
    assert_eq!((r.status, r.header("warning")), (201, None));
    // Dry run: a full answer, no write, no RV bump.
    let before = snapshot(&a);
    let r = Request::new(&a, "POST", &format!("{CMS}?dryRun=All"))
        .json(&cm("dry"))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(r.json()["metadata"]["uid"].is_string());
    assert_eq!(snapshot(&a), before);
    let r = Request::new(&a, "DELETE", &format!("{CMS}/warned?dryRun=All")).send();
    assert_eq!(r.status, 200);
    assert_eq!(snapshot(&a), before);
}

#[test]
fn uid_timestamp_generation_and_conflicts() {
    let s = TestSpace::start();
    let a = s.addr();
    let mut body = cm("c");
    body["metadata"]["uid"] = json!("client-chosen");
    body["metadata"]["resourceVersion"] = json!("12345");
    body["metadata"]["creationTimestamp"] = json!("2001-01-01T00:00:00Z");
    let created = Request::new(&a, "POST", CMS).json(&body).send().json();
    let m = &created["metadata"];
    assert_ne!(m["uid"], "client-chosen");
    assert_ne!(m["creationTimestamp"], "2001-01-01T00:00:00Z");
    assert!(
        m.get("generation").is_none(),
        "ConfigMaps have no generation: {m}"
    );
    // generateName
    let r = Request::new(&a, "POST", CMS)
        .json(&json!({"metadata": {"generateName": "gen-"}}))
        .send();
    assert_eq!(r.status, 201);
    let name = r.json()["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    // PUT with a stale RV: 409 with kube's message and details.
    let mut stale = created.clone();
    stale["data"] = json!({"x": "1"});
    assert_eq!(
        Request::new(&a, "PUT", &format!("{CMS}/c"))
            .json(&stale)
            .send()
            .status,
        200
    );
    let r = Request::new(&a, "PUT", &format!("{CMS}/c"))
        .json(&stale)
        .send();
    let msg = status(&r, 409, "Conflict");
    assert_eq!(
        msg,
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(
        r.json()["details"],
        json!({"name": "c", "kind": "configmaps"})
    );
    // uid and creationTimestamp cannot be changed by an update.
    let mut cur = Request::new(&a, "GET", &format!("{CMS}/c")).send().json();
    let uid = cur["metadata"]["uid"].clone();
    cur["metadata"]["uid"] = json!("other");
    let r = Request::new(&a, "PUT", &format!("{CMS}/c"))
        .json(&cur)
        .send();
    assert!(
        r.status == 422 || (r.status == 200 && r.json()["metadata"]["uid"] == uid),
        "{}",
        r.text()
    );
    // A merge patch carrying a stale resourceVersion is a conflict too.
    let r = Request::new(&a, "PATCH", &format!("{CMS}/c"))
        .header("Content-Type", "application/merge-patch+json")
        .body(json!({"metadata": {"resourceVersion": "1"}, "data": {"y": "2"}}).to_string())
        .send();
    status(&r, 409, "Conflict");
    // Missing objects.
    let m = status(
        &Request::new(&a, "GET", &format!("{CMS}/nope")).send(),
        404,
        "NotFound",
    );
    assert_eq!(m, "configmaps \"nope\" not found");
    // Server-side apply needs a field manager.
    let r = Request::new(&a, "PATCH", &format!("{CMS}/c"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
        .send();
    status(&r, 422, "Invalid");
}

#[test]
fn openapi_and_discovery_documents() {
    let s = TestSpace::start();
    let a = s.addr();
    let r = Request::new(&a, "GET", "/openapi/v2")
        .header(
            "Accept",
            "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
        )
        .send();
    assert_eq!(
        (r.status, r.header("content-type"), r.body.len()),
        (
            200,
            Some("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
            0
        )
    );
    let index = Request::new(&a, "GET", "/openapi/v3").send().json();
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .expect("apps/v1 listed");
    let doc = Request::new(&a, "GET", url).send().json();
    let patch = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .expect("params")
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
    let schema = &doc["components"]["schemas"]["io.k8s.api.apps.v1.DeploymentSpec"];
    assert_eq!(schema["properties"]["replicas"]["type"], "integer");
    // Aggregated discovery, chosen by the Accept header.
    let agg =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let r = Request::new(&a, "GET", "/apis")
        .header("Accept", agg)
        .send();
    assert_eq!(
        r.header("content-type"),
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    );
    let groups = r.json();
    let apps = groups["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("apps")
        .clone();
    let deploy = apps["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments")
        .clone();
    assert_eq!(deploy["scope"], "Namespaced");
    assert_eq!(deploy["subresources"].as_array().map(Vec::len), Some(2));
    let core = Request::new(&a, "GET", "/api")
        .header("Accept", agg)
        .send()
        .json();
    assert_eq!(core["items"][0]["metadata"]["name"], "");
    let legacy = Request::new(&a, "GET", "/api").send().json();
    assert_eq!(legacy["kind"], "APIVersions");
    let v = Request::new(&a, "GET", "/version").send().json();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("33"))
    );
}

#[test]
fn http2_with_prior_knowledge() {
    let s = TestSpace::start();
    let addr = s.addr();
    s.block_on(async move {
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("h2 handshake");
        tokio::spawn(conn);
        let body = http_body_util::Full::new(bytes::Bytes::from(cm("h2").to_string()));
        let req = http::Request::post(format!("http://{addr}{CMS}"))
            .header("content-type", "application/json")
            .body(body)
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.status(), 201);
        let req = http::Request::get(format!("http://{addr}{CMS}/h2"))
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        assert_eq!(resp.status(), 200);
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["metadata"]["name"], "h2");
    });
}

#[test]
fn service_addresses_are_unique_and_kept_across_writes() {
    const SERVICES: &str = "/api/v1/namespaces/default/services";
    let s = TestSpace::start();
    let a = s.addr();
    let service = |name: &str, ty: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"type": ty, "ports": [{"port": 80}]}})
    };
    // All at once: addresses are allocated before the commit, so without turns two writes
    // would find the same address free.
    let writers: Vec<_> = (0..64)
        .map(|i| {
            let (a, body) = (
                a.clone(),
                service(&format!("s{i}"), ["ClusterIP", "NodePort"][i % 2]),
            );
            std::thread::spawn(move || Request::new(&a, "POST", SERVICES).json(&body).send().status)
        })
        .collect();
    for w in writers {
        assert_eq!(w.join().expect("writer"), 201);
    }
    let list = Request::new(&a, "GET", SERVICES).send().json();
    let items = list["items"].as_array().expect("items");
    let ips: std::collections::HashSet<&str> = items
        .iter()
        .filter_map(|s| s["spec"]["clusterIP"].as_str())
        .collect();
    assert_eq!((items.len(), ips.len()), (64, 64), "{ips:?}");
    let ports: std::collections::HashSet<u64> = items
        .iter()
        .filter_map(|s| s["spec"]["ports"][0]["nodePort"].as_u64())
        .collect();
    assert_eq!(ports.len(), 32, "{ports:?}");

    // An address another Service holds is refused, as kube-apiserver refuses it.
    let mut by_port: Vec<&Value> = items
        .iter()
        .filter(|s| s["spec"]["ports"][0]["nodePort"].is_u64())
        .collect();
    by_port.sort_by_key(|s| s["spec"]["ports"][0]["nodePort"].as_u64());
    let held = by_port[by_port.len() - 1];
    let (ip, port) = (
        held["spec"]["clusterIP"].as_str().expect("ip"),
        held["spec"]["ports"][0]["nodePort"].as_u64().expect("port"),
    );
    let mut wants_ip = service("wants-ip", "ClusterIP");
    wants_ip["spec"]["clusterIP"] = json!(ip);
    let r = Request::new(&a, "POST", SERVICES).json(&wants_ip).send();
    let m = status(&r, 422, "Invalid");
    assert!(
        m.contains(&format!(
            "failed to allocate IP {ip}: provided IP is already allocated"
        )),
        "{m}"
    );
    let mut wants_port = service("wants-port", "NodePort");
    wants_port["spec"]["ports"][0]["nodePort"] = json!(port);
    let r = Request::new(&a, "POST", SERVICES).json(&wants_port).send();
    let m = status(&r, 422, "Invalid");
    assert!(
        m.contains(&format!(
            "spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
        )),
        "{m}"
    );

    // A Service rewritten without its addresses (`kubectl replace` of its manifest) keeps them,
    // as kube-apiserver's patchAllocatedValues does, even when lower ones are free.
    let lowest = by_port[0]["metadata"]["name"].as_str().expect("name");
    let r = Request::new(&a, "DELETE", &format!("{SERVICES}/{lowest}")).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let name = held["metadata"]["name"].as_str().expect("name");
    let mut rewritten = held.clone();
    rewritten["spec"]["ports"] = json!([{"port": 80, "protocol": "TCP", "targetPort": 80}]);
    rewritten["spec"]
        .as_object_mut()
        .expect("spec")
        .retain(|k, _| k != "clusterIP" && k != "clusterIPs");
    let r = Request::new(&a, "PUT", &format!("{SERVICES}/{name}"))
        .json(&rewritten)
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let kept = r.json();
    assert_eq!(kept["spec"]["ports"][0]["nodePort"], json!(port), "{kept}");
    assert_eq!(kept["spec"]["clusterIP"], json!(ip), "{kept}");
}

#[test]
fn config_maps_and_secrets_are_checked_as_kube_checks_them() {
    const SECRETS: &str = "/api/v1/namespaces/default/secrets";
    let s = TestSpace::start();
    let a = s.addr();
    let post = |path: &str, body: Value| Request::new(&a, "POST", path).json(&body).send();
    let invalid = |path: &str, body: Value| status(&post(path, body), 422, "Invalid");

    // Values that are not base64: kube's decoder refuses the body.
    let r = post(
        SECRETS,
        json!({"metadata": {"name": "b"}, "data": {"k": "!!"}}),
    );
    let m = status(&r, 400, "BadRequest");
    assert_eq!(
        m,
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0"
    );
    let r = post(
        CMS,
        json!({"metadata": {"name": "b"}, "binaryData": {"k": "YWJj!"}}),
    );
    assert!(status(&r, 400, "BadRequest").ends_with("illegal base64 data at input byte 4"));
    // Line breaks are skipped, as Go's decoder skips them.
    let r = post(
        SECRETS,
        json!({"metadata": {"name": "wrapped"}, "data": {"k": "YW\nJj"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());

    // Keys, duplicates, size.
    let m = invalid(
        CMS,
        json!({"metadata": {"name": "k"}, "data": {"a b": "x", "..x": "y"}, "binaryData": {"a b": ""}}),
    );
    assert!(m.contains(r#"data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#), "{m}");
    assert!(
        m.contains(r#"data[..x]: Invalid value: "..x": must not start with '..'"#),
        "{m}"
    );
    assert!(
        m.contains(r#"data[a b]: Invalid value: "a b": duplicate of key present in binaryData"#),
        "{m}"
    );
    let big = "x".repeat((1 << 20) + 1);
    let m = invalid(
        CMS,
        json!({"metadata": {"name": "big"}, "data": {"a": big}}),
    );
    assert_eq!(
        m,
        "ConfigMap \"big\" is invalid: []: Too long: must have at most 1048576 bytes"
    );
    let m = invalid(
        SECRETS,
        json!({"metadata": {"name": "big"}, "stringData": {"a": big}}),
    );
    assert_eq!(
        m,
        "Secret \"big\" is invalid: data: Too long: must have at most 1048576 bytes"
    );

    // Keys a Secret's type requires.
    let m = invalid(
        SECRETS,
        json!({"metadata": {"name": "t"}, "type": "kubernetes.io/tls", "data": {"tls.crt": ""}}),
    );
    assert_eq!(m, "Secret \"t\" is invalid: data[tls.key]: Required value");
    let m = invalid(
        SECRETS,
        json!({"metadata": {"name": "s"}, "type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}}),
    );
    assert_eq!(
        m,
        "Secret \"s\" is invalid: data[ssh-privatekey]: Required value"
    );
    let m = invalid(
        SECRETS,
        json!({"metadata": {"name": "d"}, "type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "[1]"}}),
    );
    assert!(m.starts_with("Secret \"d\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "), "{m}");

    // `immutable` and a Secret's type do not change.
    let r = post(
        CMS,
        json!({"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": true}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = Request::new(&a, "PATCH", &format!("{CMS}/frozen"))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"data":{"a":"2"},"immutable":false}"#)
        .send();
    let m = status(&r, 422, "Invalid");
    assert_eq!(
        m,
        "ConfigMap \"frozen\" is invalid: [immutable: Forbidden: field is immutable when `immutable` is set, data: Forbidden: field is immutable when `immutable` is set]"
    );
    let r = Request::new(&a, "PATCH", &format!("{SECRETS}/wrapped"))
        .header("Content-Type", "application/merge-patch+json")
        .body(r#"{"type":"kubernetes.io/tls"}"#)
        .send();
    let m = status(&r, 422, "Invalid");
    assert!(m.starts_with("Secret \"wrapped\" is invalid: [type: Invalid value: \"kubernetes.io/tls\": field is immutable"), "{m}");
}
