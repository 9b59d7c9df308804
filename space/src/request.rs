//! Parsing a request's path and query into what it addresses.

use std::collections::HashMap;

use crate::error::{ApiError, ApiResult};

/// What a URL path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Version,
    Health(&'static str),
    Api,
    Apis,
    /// `/apis/{group}`
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`
    GroupVersion {
        group: String,
        version: String,
    },
    /// A collection, an item or a subresource.
    Resource(ResourcePath),
    OpenApiV2,
    OpenApiV3Index,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{g}/{v}`
    OpenApiV3 {
        group: String,
        version: String,
    },
    Metrics,
}

/// A resource path: `/{api|apis/g}/{v}/[namespaces/{ns}/]{resource}[/{name}[/{sub}]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parses a path (without query).
pub fn parse_path(path: &str) -> ApiResult<Target> {
    let path = path.trim_end_matches('/');
    match path {
        "/version" => return Ok(Target::Version),
        "/healthz" => return Ok(Target::Health("healthz")),
        "/readyz" => return Ok(Target::Health("readyz")),
        "/livez" => return Ok(Target::Health("livez")),
        "/api" => return Ok(Target::Api),
        "/apis" => return Ok(Target::Apis),
        "/openapi/v2" | "/swagger-2.0.0.pb-v1" | "/swagger.json" => return Ok(Target::OpenApiV2),
        "/openapi/v3" => return Ok(Target::OpenApiV3Index),
        "/metrics" => return Ok(Target::Metrics),
        _ => {}
    }
    if path.starts_with("/healthz/") || path.starts_with("/readyz/") || path.starts_with("/livez/")
    {
        return Ok(Target::Health("healthz"));
    }
    if let Some(rest) = path.strip_prefix("/openapi/v3/") {
        let segs: Vec<&str> = rest.split('/').collect();
        return match segs.as_slice() {
            ["api", v] => Ok(Target::OpenApiV3 {
                group: String::new(),
                version: v.to_string(),
            }),
            ["apis", g, v] => Ok(Target::OpenApiV3 {
                group: g.to_string(),
                version: v.to_string(),
            }),
            _ => Err(ApiError::no_route()),
        };
    }
    let segs: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| {
            percent_decode(s)
                .ok_or_else(|| ApiError::bad_request(format!("invalid path segment {s:?}")))
        })
        .collect::<ApiResult<_>>()?;
    let (group, version, rest) = match segs.first().map(String::as_str) {
        Some("api") => match segs.get(1) {
            Some(v) => (String::new(), v.clone(), &segs[2..]),
            None => return Ok(Target::Api),
        },
        Some("apis") => match (segs.get(1), segs.get(2)) {
            (Some(g), Some(v)) => (g.clone(), v.clone(), &segs[3..]),
            (Some(g), None) => return Ok(Target::Group(g.clone())),
            _ => return Ok(Target::Apis),
        },
        _ => return Err(ApiError::no_route()),
    };
    let rp = |namespace: Option<&String>, r: &[String]| -> ApiResult<Target> {
        if r.is_empty() || r.len() > 3 || r.iter().any(String::is_empty) {
            return Err(ApiError::no_route());
        }
        Ok(Target::Resource(ResourcePath {
            group: group.clone(),
            version: version.clone(),
            namespace: namespace.cloned(),
            resource: r[0].clone(),
            name: r.get(1).cloned(),
            subresource: r.get(2).cloned(),
        }))
    };
    match rest {
        [] => Ok(Target::GroupVersion {
            group: group.clone(),
            version: version.clone(),
        }),
        // `/namespaces/{ns}/{resource}...` unless it is the namespace's own subresource.
        [first, ns, third, ..]
            if first == "namespaces" && !matches!(third.as_str(), "status" | "finalize") =>
        {
            rp(Some(ns), &rest[2..])
        }
        _ => rp(None, rest),
    }
}

pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameters (last value wins, as Go's `url.Values.Get` returns the first; kubectl never
/// repeats them).
#[derive(Debug, Default, Clone)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        let mut m = HashMap::new();
        if let Some(q) = raw {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let k = form_decode(k);
                m.entry(k).or_insert_with(|| form_decode(v));
            }
        }
        Query(m)
    }

    /// A parameter's value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A boolean flag (`true`, `1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | "True"))
    }

    /// A non-negative integer parameter.
    pub fn uint(&self, k: &str) -> ApiResult<Option<u64>> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}"))),
        }
    }
}

fn form_decode(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode(&s).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(p: &str) -> ResourcePath {
        match parse_path(p).expect("parses") {
            Target::Resource(r) => r,
            t => panic!("not a resource path: {t:?}"),
        }
    }

    #[test]
    fn parses_kube_paths() {
        assert_eq!(
            parse_path("/api/v1").ok(),
            Some(Target::GroupVersion {
                group: "".into(),
                version: "v1".into()
            })
        );
        let r = res("/api/v1/namespaces/default/configmaps/x");
        assert_eq!(
            (
                r.namespace.as_deref(),
                r.resource.as_str(),
                r.name.as_deref()
            ),
            (Some("default"), "configmaps", Some("x"))
        );
        let r = res("/api/v1/namespaces/foo");
        assert_eq!(
            (r.namespace, r.resource.as_str(), r.name.as_deref()),
            (None, "namespaces", Some("foo"))
        );
        let r = res("/api/v1/namespaces/foo/status");
        assert_eq!(
            (r.resource.as_str(), r.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let r = res("/apis/apps/v1/namespaces/d/deployments/web/scale");
        assert_eq!(
            (r.group.as_str(), r.subresource.as_deref()),
            ("apps", Some("scale"))
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.namespace, r.name), (None, None));
        assert!(matches!(parse_path("/foo"), Err(e) if e.code == 404));
        assert!(
            matches!(parse_path("/apis/example.com"), Ok(Target::Group(g)) if g == "example.com")
        );
    }

    #[test]
    fn parses_queries() {
        let q = Query::parse(Some("labelSelector=a%3Db%2Cc&watch=1&limit=5&x"));
        assert_eq!(q.get("labelSelector"), Some("a=b,c"));
        assert!(q.flag("watch"));
        assert_eq!(q.uint("limit").ok().flatten(), Some(5));
        assert_eq!(q.get("x"), Some(""));
        assert!(q.uint("labelSelector").is_err());
    }
}
