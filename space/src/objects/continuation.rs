//! Continue tokens of paged lists. The first page of a list that does not fit takes the whole
//! matching result at once (cheap: stored objects are shared); later pages read the rest of
//! that same result, so every page of one list comes from one consistent snapshot, as
//! kube-apiserver's pages come from one etcd revision. Snapshots expire like etcd compaction
//! does: after [`TTL`], or when more than [`MAX_SNAPSHOTS`] lists are being paged; their
//! tokens then get 410 Expired.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::registry::GroupResource;
use crate::store::StoredObject;

/// How long a paged list stays readable.
pub const TTL: Duration = Duration::from_secs(300);
/// How many paged lists are kept at once.
pub const MAX_SNAPSHOTS: usize = 128;

/// A decoded continue token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The snapshot it reads.
    pub id: u64,
    /// Items already returned.
    pub offset: usize,
    /// The resourceVersion of the first page.
    pub rv: u64,
}

impl Token {
    /// The opaque text sent to clients.
    pub fn encode(&self) -> String {
        let raw =
            json!({"v": "meta.k8s.io/v1", "rv": self.rv, "id": self.id, "offset": self.offset});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    /// Parses a client's `continue` parameter.
    pub fn decode(token: &str) -> ApiResult<Token> {
        let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
        let num = |k: &str| v[k].as_u64().ok_or_else(bad);
        Ok(Token {
            id: num("id")?,
            offset: num("offset")? as usize,
            rv: num("rv")?,
        })
    }
}

struct Snapshot {
    id: u64,
    created: Instant,
    gr: GroupResource,
    namespace: Option<String>,
    rv: u64,
    items: Arc<Vec<StoredObject>>,
}

/// The snapshots of lists being paged.
#[derive(Default)]
pub struct Continuations {
    inner: Mutex<(u64, VecDeque<Snapshot>)>,
}

/// One page cut from a snapshot.
pub struct Cut {
    /// The page's items.
    pub items: Vec<StoredObject>,
    /// The token of the next page, if any.
    pub next: Option<Token>,
    /// Items after this page.
    pub remaining: Option<usize>,
}

fn cut(id: u64, rv: u64, items: &[StoredObject], offset: usize, limit: usize) -> Cut {
    let end = if limit == 0 {
        items.len()
    } else {
        (offset + limit).min(items.len())
    };
    let page = items
        .get(offset..end)
        .map(<[StoredObject]>::to_vec)
        .unwrap_or_default();
    let remaining = items.len().saturating_sub(end);
    Cut {
        items: page,
        next: (remaining > 0).then_some(Token {
            id,
            offset: end,
            rv,
        }),
        remaining: (remaining > 0).then_some(remaining),
    }
}

impl Continuations {
    /// The first page of `items`; keeps the rest for continue tokens when they do not fit.
    pub fn first_page(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        rv: u64,
        items: Vec<StoredObject>,
        limit: usize,
    ) -> Cut {
        if limit == 0 || items.len() <= limit {
            return Cut {
                items,
                next: None,
                remaining: None,
            };
        }
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (next_id, snaps) = &mut *guard;
        *next_id += 1;
        let id = *next_id;
        let now = Instant::now();
        snaps.retain(|s| now.duration_since(s.created) < TTL);
        while snaps.len() >= MAX_SNAPSHOTS {
            snaps.pop_front();
        }
        let items = Arc::new(items);
        let page = cut(id, rv, &items, 0, limit);
        snaps.push_back(Snapshot {
            id,
            created: now,
            gr: gr.clone(),
            namespace: namespace.map(String::from),
            rv,
            items,
        });
        page
    }

    /// A later page; 410 Expired when the snapshot is gone.
    pub fn next_page(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
        token: &Token,
        limit: usize,
    ) -> ApiResult<Cut> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let snap = guard
            .1
            .iter()
            .find(|s| s.id == token.id && s.created.elapsed() < TTL)
            .ok_or_else(|| {
                ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                )
            })?;
        if snap.gr != *gr || snap.namespace.as_deref() != namespace || snap.rv != token.rv {
            return Err(ApiError::bad_request(
                "continue key does not belong to this list",
            ));
        }
        let items = snap.items.clone();
        drop(guard);
        Ok(cut(token.id, token.rv, &items, token.offset, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn obj(i: u64) -> StoredObject {
        StoredObject {
            rv: i,
            json: Bytes::from(format!("{{\"i\":{i}}}")),
            meta: Arc::default(),
        }
    }

    fn gr() -> GroupResource {
        GroupResource {
            group: String::new(),
            resource: "configmaps".into(),
        }
    }

    #[test]
    fn pages_come_from_one_snapshot() {
        let c = Continuations::default();
        let items: Vec<StoredObject> = (0..5).map(obj).collect();
        let p1 = c.first_page(&gr(), Some("ns"), 9, items, 2);
        assert_eq!((p1.items.len(), p1.remaining), (2, Some(3)));
        let t1 = p1.next.expect("token");
        let t1 = Token::decode(&t1.encode()).expect("round trip");
        let p2 = c.next_page(&gr(), Some("ns"), &t1, 2).expect("page 2");
        assert_eq!(p2.items.iter().map(|o| o.rv).collect::<Vec<_>>(), [2, 3]);
        let p3 = c
            .next_page(&gr(), Some("ns"), &p2.next.expect("token"), 2)
            .expect("page 3");
        assert_eq!((p3.items.len(), p3.next, p3.remaining), (1, None, None));
        // Another list's token, and expired ones.
        assert_eq!(
            c.next_page(&gr(), Some("other"), &t1, 2)
                .err()
                .map(|e| e.code),
            Some(400)
        );
        let gone = Token {
            id: 999,
            offset: 2,
            rv: 9,
        };
        assert_eq!(
            c.next_page(&gr(), Some("ns"), &gone, 2)
                .err()
                .map(|e| e.code),
            Some(410)
        );
        assert!(Token::decode("garbage!").is_err());
    }

    #[test]
    fn old_snapshots_are_dropped_beyond_the_cap() {
        let c = Continuations::default();
        let first = c
            .first_page(&gr(), None, 1, (0..3).map(obj).collect(), 1)
            .next
            .expect("token");
        for _ in 0..MAX_SNAPSHOTS {
            c.first_page(&gr(), None, 1, (0..3).map(obj).collect(), 1);
        }
        assert_eq!(
            c.next_page(&gr(), None, &first, 1).err().map(|e| e.code),
            Some(410)
        );
    }
}
