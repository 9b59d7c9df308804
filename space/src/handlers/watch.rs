//! Watch: a chunked stream of `{"type":...,"object":...}` lines, with selector transitions,
//! bookmarks, watch-list (`sendInitialEvents`), Table objects, timeouts, and an in-stream
//! `ERROR 410 Expired` for versions older than the history (what kube-rs needs to re-list).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::wants_table;
use crate::error::{ApiError, ApiResult};
use crate::objects::ListOptions;
use crate::registry::ResourceInfo;
use crate::request::Query;
use crate::space::Space;
use crate::store::{Event, EventType, StoredObject};
use crate::table;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

struct Watch {
    space: Arc<Space>,
    r: Arc<ResourceInfo>,
    namespace: Option<String>,
    opts: ListOptions,
    table: bool,
    include_object: String,
    bookmarks: bool,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

/// Starts a watch; the response streams until the timeout or the client leaves.
pub fn serve(
    space: Arc<Space>,
    r: Arc<ResourceInfo>,
    namespace: Option<String>,
    q: &Query,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let opts = ListOptions::parse(q, &r)?;
    let timeout = q
        .uint("timeoutSeconds")?
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let rv = match q.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let initial_events = q.flag("sendInitialEvents");
    if initial_events && !q.flag("allowWatchBookmarks") {
        return Err(ApiError::invalid(
            &r.group,
            &r.resource,
            &r.kind,
            "",
            vec![crate::error::Cause {
                reason: "FieldValueForbidden".into(),
                message:
                    "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"
                        .into(),
                field: "allowWatchBookmarks".into(),
            }],
        ));
    }
    let (tx, rx) = mpsc::channel(256);
    let w = Watch {
        space,
        r,
        namespace,
        opts,
        table: wants_table(headers),
        include_object: q.get("includeObject").unwrap_or("Metadata").to_string(),
        bookmarks: q.flag("allowWatchBookmarks"),
        tx,
    };
    // With no resourceVersion, or with watch-list, the stream starts with the current state.
    let start = if initial_events {
        Start::Initial { end_bookmark: true }
    } else {
        rv.map_or(
            Start::Initial {
                end_bookmark: false,
            },
            Start::From,
        )
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(timeout, w.run(start)).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}

enum Start {
    Initial { end_bookmark: bool },
    From(u64),
}

impl Watch {
    async fn run(self, start: Start) {
        let gr = self.r.group_resource();
        let (mut last_rv, sub) = match start {
            Start::Initial { end_bookmark } => {
                let page = match self.space.list_objects(
                    &self.r,
                    self.namespace.as_deref(),
                    &ListOptions {
                        limit: 0,
                        continue_token: None,
                        ..self.opts.clone()
                    },
                ) {
                    Ok(p) => p,
                    Err(_) => return,
                };
                let Ok(sub) = self.space.store.watch(&gr, page.rv) else {
                    return;
                };
                for item in &page.items {
                    if !self.send(EventType::Added.as_str(), item).await {
                        return;
                    }
                }
                if end_bookmark && !self.bookmark(page.rv, true).await {
                    return;
                }
                (page.rv, sub)
            }
            Start::From(rv) => match self.space.store.watch(&gr, rv) {
                Ok(sub) => (rv, sub),
                Err(e) => {
                    self.expired(&e.to_string()).await;
                    return;
                }
            },
        };
        for ev in &sub.backlog {
            if ev.object.rv > last_rv {
                if !self.deliver(ev).await {
                    return;
                }
                last_rv = ev.object.rv;
            }
        }
        let mut rx = sub.rx;
        let mut tick = tokio::time::interval(
            self.space
                .config
                .bookmark_interval
                .max(Duration::from_millis(10)),
        );
        tick.tick().await;
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        if ev.object.rv <= last_rv {
                            continue;
                        }
                        if !self.deliver(&ev).await {
                            return;
                        }
                        last_rv = ev.object.rv;
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.expired(&format!("too old resource version: {last_rv}: the watcher fell behind")).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if self.bookmarks && !self.bookmark(last_rv, false).await {
                        return;
                    }
                }
                _ = self.tx.closed() => return,
            }
        }
    }

    fn in_scope(&self, ev: &Event) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| *ns == ev.key.namespace)
    }

    /// Sends an event as this watcher sees it through its selectors.
    async fn deliver(&self, ev: &Event) -> bool {
        if !self.in_scope(ev) {
            return true;
        }
        let now = self.opts.matches(&self.r, &ev.object);
        let before = ev
            .prev
            .as_ref()
            .is_some_and(|p| self.opts.matches(&self.r, p));
        let kind = match ev.kind {
            EventType::Added if now => EventType::Added,
            EventType::Modified if now && before => EventType::Modified,
            EventType::Modified if now => EventType::Added,
            EventType::Modified if before => EventType::Deleted,
            EventType::Deleted if before => EventType::Deleted,
            _ => return true,
        };
        self.send(kind.as_str(), &ev.object).await
    }

    async fn send(&self, kind: &str, obj: &StoredObject) -> bool {
        let mut buf = BytesMut::with_capacity(obj.json.len() + 40);
        buf.put_slice(b"{\"type\":\"");
        buf.put_slice(kind.as_bytes());
        buf.put_slice(b"\",\"object\":");
        let multi_version = self.r.is_custom()
            && self
                .space
                .registry
                .catalog()
                .versions_of(&self.r.group_resource())
                .len()
                > 1;
        if self.table {
            let v = self.space.present(&self.r, obj.value());
            let t = table::table(&self.r, &[v], obj.rv, None, &self.include_object);
            buf.put_slice(&serde_json::to_vec(&t).unwrap_or_default());
        } else if multi_version {
            buf.put_slice(
                &serde_json::to_vec(&self.space.present(&self.r, obj.value())).unwrap_or_default(),
            );
        } else {
            buf.put_slice(&obj.json);
        }
        buf.put_slice(b"}\n");
        self.tx.send(Ok(buf.freeze())).await.is_ok()
    }

    async fn bookmark(&self, rv: u64, initial_end: bool) -> bool {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.r.kind, "apiVersion": self.r.api_version(), "metadata": meta});
        self.send_value("BOOKMARK", &obj).await
    }

    async fn expired(&self, message: &str) {
        let status = ApiError::expired(message).status();
        self.send_value("ERROR", &status).await;
    }

    async fn send_value(&self, kind: &str, obj: &Value) -> bool {
        let line = format!("{}\n", json!({"type": kind, "object": obj}));
        self.tx.send(Ok(Bytes::from(line))).await.is_ok()
    }
}
