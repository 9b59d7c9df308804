//! Watch: a chunked stream of `{"type":...,"object":...}` lines, with selector transitions,
//! bookmarks, watch-list (`sendInitialEvents`), Table objects, timeouts, and an in-stream
//! `ERROR 410 Expired` for versions older than the history (what kube-rs needs to re-list).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::wants_table;
use crate::error::{ApiError, ApiResult};
use crate::metrics::OpenWatch;
use crate::objects::ListOptions;
use crate::registry::ResourceInfo;
use crate::request::Query;
use crate::space::Space;
use crate::store::{Event, EventType, StoredObject};
use crate::table;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// What a watch sends, and what it remembers between chunks.
struct Watch {
    space: Arc<Space>,
    r: Arc<ResourceInfo>,
    namespace: Option<String>,
    opts: ListOptions,
    table: bool,
    include_object: String,
    bookmarks: bool,
    /// Until the first chunk: where to start.
    start: Option<Start>,
    /// Events that happened before the watch started (from the history).
    backlog: Vec<Arc<Event>>,
    rx: Option<broadcast::Receiver<Arc<Event>>>,
    /// The newest resourceVersion the stream has covered (sent or filtered out).
    last_rv: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
    tick: tokio::time::Interval,
    done: bool,
    /// Counted in `/metrics` while the stream lives.
    _open: OpenWatch,
}

/// Most events put into one chunk when several are ready at once.
const MAX_EVENTS_PER_CHUNK: usize = 256;

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
    let every = space
        .config
        .bookmark_interval
        .max(Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let open = space.metrics.watch_opened();
    let w = Watch {
        space,
        r,
        namespace,
        opts,
        table: wants_table(headers),
        include_object: q.get("includeObject").unwrap_or("Metadata").to_string(),
        bookmarks: q.flag("allowWatchBookmarks"),
        start: Some(start),
        backlog: Vec::new(),
        rx: None,
        last_rv: 0,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        tick,
        done: false,
        _open: open,
    };
    // The body polls the watch directly: no task or channel between the store's broadcast and
    // the connection. It ends at the deadline; a client that leaves drops it.
    let body = Body::from_stream(futures::stream::unfold(w, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((Ok::<_, std::io::Error>(chunk), w))
    }));
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
    /// The next chunk of lines, or `None` when the stream ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if let Some(start) = self.start.take() {
            return Some(self.begin(start));
        }
        let mut buf = BytesMut::new();
        for ev in std::mem::take(&mut self.backlog) {
            self.push_event(&mut buf, &ev);
        }
        if !buf.is_empty() {
            return Some(buf.freeze());
        }
        loop {
            let rx = self.rx.as_mut()?;
            tokio::select! {
                _ = &mut self.deadline => return None,
                _ = self.tick.tick(), if self.bookmarks => {
                    let mut buf = BytesMut::new();
                    self.push_bookmark(&mut buf, self.last_rv, false);
                    return Some(buf.freeze());
                }
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        self.push_event(&mut buf, &ev);
                        // Everything else already waiting goes in the same chunk.
                        for _ in 0..MAX_EVENTS_PER_CHUNK {
                            match self.rx.as_mut()?.try_recv() {
                                Ok(ev) => self.push_event(&mut buf, &ev),
                                Err(TryRecvError::Lagged(_)) => return Some(self.lagged(buf)),
                                Err(_) => break,
                            }
                        }
                        if !buf.is_empty() {
                            return Some(buf.freeze());
                        }
                    }
                    Err(RecvError::Lagged(_)) => return Some(self.lagged(buf)),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    /// The first chunk: the current state (or nothing) and the subscription from there on; or
    /// the ERROR event of an expired version, which ends the stream.
    fn begin(&mut self, start: Start) -> Bytes {
        let gr = self.r.group_resource();
        let mut buf = BytesMut::new();
        match start {
            Start::Initial { end_bookmark } => {
                let all = ListOptions {
                    limit: 0,
                    continue_token: None,
                    ..self.opts.clone()
                };
                let page = match self
                    .space
                    .list_objects(&self.r, self.namespace.as_deref(), &all)
                {
                    Ok(p) => p,
                    Err(e) => return self.fail(buf, e),
                };
                match self.space.store.watch(&gr, page.rv) {
                    Ok(sub) => {
                        self.backlog = sub.backlog;
                        self.rx = Some(sub.rx);
                    }
                    Err(e) => return self.fail(buf, ApiError::expired(e.to_string())),
                }
                for item in &page.items {
                    self.push_object(&mut buf, EventType::Added.as_str(), item);
                }
                self.last_rv = page.rv;
                if end_bookmark {
                    self.push_bookmark(&mut buf, page.rv, true);
                }
            }
            Start::From(rv) => match self.space.store.watch(&gr, rv) {
                Ok(sub) => {
                    self.backlog = sub.backlog;
                    self.rx = Some(sub.rx);
                    self.last_rv = rv;
                }
                Err(e) => return self.fail(buf, ApiError::expired(e.to_string())),
            },
        }
        buf.freeze()
    }

    /// Appends an ERROR event and ends the stream.
    fn fail(&mut self, mut buf: BytesMut, e: ApiError) -> Bytes {
        push_value(&mut buf, "ERROR", &e.status());
        self.done = true;
        buf.freeze()
    }

    /// The watcher fell too far behind the broadcast: like an expired version.
    fn lagged(&mut self, buf: BytesMut) -> Bytes {
        let msg = format!(
            "too old resource version: {}: the watcher fell behind",
            self.last_rv
        );
        self.fail(buf, ApiError::expired(msg))
    }

    fn in_scope(&self, ev: &Event) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| *ns == ev.key.namespace)
    }

    /// Appends an event as this watcher sees it through its selectors (an object that starts
    /// or stops matching is ADDED or DELETED for it).
    fn push_event(&mut self, buf: &mut BytesMut, ev: &Event) {
        if ev.object.rv <= self.last_rv {
            return;
        }
        self.last_rv = ev.object.rv;
        if !self.in_scope(ev) {
            return;
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
            _ => return,
        };
        self.push_object(buf, kind.as_str(), &ev.object);
    }

    fn push_object(&self, buf: &mut BytesMut, kind: &str, obj: &StoredObject) {
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
            let v = self.space.present(&self.r, obj.value());
            buf.put_slice(&serde_json::to_vec(&v).unwrap_or_default());
        } else {
            buf.put_slice(&obj.json);
        }
        buf.put_slice(b"}\n");
    }

    fn push_bookmark(&self, buf: &mut BytesMut, rv: u64, initial_end: bool) {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj =
            json!({"kind": self.r.kind, "apiVersion": self.r.api_version(), "metadata": meta});
        push_value(buf, "BOOKMARK", &obj);
    }
}

fn push_value(buf: &mut BytesMut, kind: &str, obj: &Value) {
    buf.put_slice(json!({"type": kind, "object": obj}).to_string().as_bytes());
    buf.put_u8(b'\n');
}
