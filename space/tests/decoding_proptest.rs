//! Property tests (bounded, a few seconds) over what a space parses from callers: label and
//! field selectors, and request bodies (JSON, YAML, Kubernetes protobuf envelopes). Nothing a
//! client sends may panic the server or make it answer 5xx; well-formed selectors parse.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use http::{Method, Request, StatusCode};
use kubestellar_apimachinery::selectors::{parse_field_selector, parse_label_selector};
use kubestellar_space::{RunningSpace, SpaceConfig};
use proptest::prelude::*;
use tower::ServiceExt;

/// One space for all cases (starting one per case would dominate the run time).
struct Shared {
    rt: tokio::runtime::Runtime,
    running: RunningSpace,
    _dir: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let running = rt
            .block_on(kubestellar_space::start(
                SpaceConfig::new("fuzz", dir.path()),
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("space starts");
        Shared {
            rt,
            running,
            _dir: dir,
        }
    })
}

/// Sends one request through the space's router (no socket) and returns the status.
fn send(method: Method, uri: &str, content_type: &str, body: Vec<u8>) -> StatusCode {
    let s = shared();
    let router = kubestellar_space::router(Arc::clone(&s.running.space));
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request");
    s.rt.block_on(async {
        match router.oneshot(req).await {
            Ok(resp) => resp.status(),
            Err(e) => match e {},
        }
    })
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Selector-ish text: mostly the characters selectors are made of.
fn selector_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9=!,()./ _-]{0,40}",
        "[a-z]{1,5}(=|==|!=| in | notin )[(a-z0-9,)]{0,12}(,[!a-z]{0,4})?",
        any::<String>(),
    ]
}

fn label_key() -> impl Strategy<Value = String> {
    "([a-z0-9]{1,8}\\.){0,2}[a-z0-9]{1,8}/[a-z]([a-z0-9-]{0,8}[a-z0-9])?|[a-z]([a-z0-9._-]{0,10}[a-z0-9])?"
}

fn label_value() -> impl Strategy<Value = String> {
    "([a-zA-Z0-9]([a-zA-Z0-9._-]{0,10}[a-zA-Z0-9])?)?"
}

/// A well-formed label selector requirement.
fn requirement() -> impl Strategy<Value = String> {
    (
        label_key(),
        0..6u8,
        proptest::collection::vec(label_value(), 1..4),
    )
        .prop_map(|(k, op, vals)| match op {
            0 => format!("{k}={}", vals[0]),
            1 => format!("{k}!={}", vals[0]),
            2 => format!("{k} in ({})", vals.join(",")),
            3 => format!("{k} notin ({})", vals.join(",")),
            4 => k,
            _ => format!("!{k}"),
        })
}

/// Appends a protobuf length-delimited field.
fn pb_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    let varint = |mut v: u64, out: &mut Vec<u8>| {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    };
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// A `k8s\0` + runtime.Unknown envelope naming a kind the server decodes, around `raw`.
fn envelope(kind_ix: usize, raw: &[u8], trailing: &[u8]) -> Vec<u8> {
    let kinds = [
        ("v1", "ConfigMap"),
        ("v1", "Namespace"),
        ("v1", "Secret"),
        ("apps/v1", "Deployment"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("v1", "NoSuchKind"),
    ];
    let (api_version, kind) = kinds[kind_ix % kinds.len()];
    let mut type_meta = Vec::new();
    pb_field(&mut type_meta, 1, api_version.as_bytes());
    pb_field(&mut type_meta, 2, kind.as_bytes());
    let mut out = b"k8s\0".to_vec();
    pb_field(&mut out, 1, &type_meta);
    pb_field(&mut out, 2, raw);
    out.extend_from_slice(trailing);
    out
}

/// The harness reaches the real handlers: a valid body is created (dry run), a bad one is a
/// 400, a valid protobuf envelope decodes.
#[test]
fn harness_reaches_the_handlers() {
    let ok = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#.to_vec();
    let uri = "/api/v1/namespaces/default/configmaps?dryRun=All";
    assert_eq!(
        send(Method::POST, uri, "application/json", ok),
        StatusCode::CREATED
    );
    assert_eq!(
        send(
            Method::POST,
            uri,
            "application/yaml",
            b"metadata: {name: y}\nkind: ConfigMap\napiVersion: v1\n".to_vec()
        ),
        StatusCode::CREATED
    );
    assert_eq!(
        send(Method::POST, uri, "application/json", b"{".to_vec()),
        StatusCode::BAD_REQUEST
    );
    // An empty ConfigMap message with metadata.name "p" (ObjectMeta field 1, ConfigMap field 1).
    let mut meta = Vec::new();
    pb_field(&mut meta, 1, b"p");
    let mut cm = Vec::new();
    pb_field(&mut cm, 1, &meta);
    assert_eq!(
        send(
            Method::POST,
            uri,
            "application/vnd.kubernetes.protobuf",
            envelope(0, &cm, &[])
        ),
        StatusCode::CREATED
    );
    let sel = "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20(";
    assert_eq!(
        send(Method::GET, sel, "", Vec::new()),
        StatusCode::BAD_REQUEST
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn selector_parsers_never_panic(s in selector_text()) {
        let _ = parse_label_selector(&s);
        let _ = parse_field_selector(&s);
    }

    #[test]
    fn well_formed_label_selectors_parse(reqs in proptest::collection::vec(requirement(), 1..4)) {
        let s = reqs.join(",");
        prop_assert!(parse_label_selector(&s).is_ok(), "{s:?}: {:?}", parse_label_selector(&s).err());
    }

    #[test]
    fn list_selectors_get_200_or_400(label in selector_text(), field in selector_text()) {
        let uri = format!(
            "/api/v1/namespaces/default/configmaps?labelSelector={}&fieldSelector={}",
            percent_encode(&label),
            percent_encode(&field)
        );
        let code = send(Method::GET, &uri, "application/json", Vec::new());
        prop_assert!(code == StatusCode::OK || code == StatusCode::BAD_REQUEST, "{uri}: {code}");
    }

    #[test]
    fn json_and_yaml_bodies_never_5xx(
        body in prop_oneof![
            any::<Vec<u8>>(),
            "\\{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":\\{\"name\":\"[a-z]{1,5}\"\\},\"data\":\\{\"[a-z]{0,3}\":[0-9a-z\"\\[\\]{},:]{0,12}\\}\\}"
                .prop_map(String::into_bytes),
            "(apiVersion: v1\nkind: ConfigMap\n)?metadata:( \\{name: [a-z]{1,5}\\})?\n[a-z:&*!|> \n-]{0,30}"
                .prop_map(String::into_bytes),
            any::<String>().prop_map(String::into_bytes),
        ],
        yaml in any::<bool>(),
    ) {
        let ct = if yaml { "application/yaml" } else { "application/json" };
        let code = send(Method::POST, "/api/v1/namespaces/default/configmaps?dryRun=All", ct, body);
        prop_assert!(code.as_u16() < 500, "{ct}: {code}");
    }

    #[test]
    fn protobuf_bodies_never_5xx(
        kind in 0usize..6,
        raw in any::<Vec<u8>>(),
        trailing in proptest::collection::vec(any::<u8>(), 0..4),
        bare in any::<Vec<u8>>(),
        use_bare in any::<bool>(),
    ) {
        let body = if use_bare { bare } else { envelope(kind, &raw, &trailing) };
        for uri in [
            "/api/v1/namespaces/default/configmaps?dryRun=All",
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        ] {
            let code = send(Method::POST, uri, "application/vnd.kubernetes.protobuf", body.clone());
            prop_assert!(code.as_u16() < 500, "{uri}: {code}");
        }
    }
}
