//! The HTTP side: `/healthz` and `/readyz` on one address, `/metrics` on another (or the same).

use std::net::SocketAddr;

use super::{Health, HealthError};

/// Content type of `/metrics` (what `prometheus_client`'s text encoder writes).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Health {
    /// Serves `/healthz` and `/readyz` on `probes` and `/metrics` on `metrics` (both on one
    /// listener if the addresses are equal and not port 0; `None` disables). Binds now, so
    /// that a bad or busy address fails at startup; serves until [`Endpoints`] is dropped.
    pub async fn serve(
        &self,
        probes: Option<&str>,
        metrics: Option<&str>,
    ) -> Result<Endpoints, HealthError> {
        use axum::routing::get;
        let probe_routes = || {
            axum::Router::new()
                .route("/healthz", get(healthz))
                .route("/readyz", get(readyz))
        };
        let metric_routes = || axum::Router::new().route("/metrics", get(metrics_handler));
        // (address, routes, serves the probes, serves the metrics)
        let mut plan: Vec<(&str, axum::Router<Health>, bool, bool)> = Vec::new();
        match (probes, metrics) {
            (Some(p), Some(m)) if p == m && !p.ends_with(":0") => {
                plan.push((p, probe_routes().merge(metric_routes()), true, true))
            }
            (p, m) => {
                if let Some(p) = p {
                    plan.push((p, probe_routes(), true, false));
                }
                if let Some(m) = m {
                    plan.push((m, metric_routes(), false, true));
                }
            }
        }
        let mut ep = Endpoints::default();
        for (addr, router, serves_probes, serves_metrics) in plan {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| HealthError::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
            let local = listener.local_addr().map_err(|source| HealthError::Bind {
                addr: addr.to_string(),
                source,
            })?;
            let app = router.with_state(self.clone());
            let component = self.inner.component;
            ep.tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(component, addr = %local, error = %e, "health endpoint stopped");
                }
            }));
            if serves_probes {
                ep.probes = Some(local);
            }
            if serves_metrics {
                ep.metrics = Some(local);
            }
            tracing::info!(component, addr = %local, "serving health endpoints");
        }
        Ok(ep)
    }
}

/// The running endpoints; dropping this stops them.
#[derive(Default)]
pub struct Endpoints {
    /// Where `/healthz` and `/readyz` are served.
    pub probes: Option<SocketAddr>,
    /// Where `/metrics` is served.
    pub metrics: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn probe_response(what: &str, (ok, lines): (bool, Vec<String>)) -> axum::response::Response {
    use axum::response::IntoResponse;
    let verdict = if ok { "passed" } else { "failed" };
    let body = format!("{}\n{what} check {verdict}\n", lines.join("\n"));
    let code = if ok {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        code,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn healthz(
    axum::extract::State(h): axum::extract::State<Health>,
) -> axum::response::Response {
    probe_response("healthz", h.live())
}

async fn readyz(axum::extract::State(h): axum::extract::State<Health>) -> axum::response::Response {
    probe_response("readyz", h.ready())
}

async fn metrics_handler(
    axum::extract::State(h): axum::extract::State<Health>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        h.render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        let code = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("status line");
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (code, body.to_string())
    }

    #[tokio::test]
    async fn endpoints_answer_over_http() {
        let h = Health::new("controller", false);
        let ep = h
            .serve(Some("127.0.0.1:0"), Some("127.0.0.1:0"))
            .await
            .expect("serve");
        let probes = ep.probes.expect("probes bound");
        let metrics = ep.metrics.expect("metrics bound");
        assert_ne!(probes, metrics, "two listeners");
        assert_eq!(get(probes, "/healthz").await.0, 200);
        let (code, body) = get(probes, "/readyz").await;
        assert_eq!(code, 500, "{body}");
        assert!(body.contains("readyz check failed"), "{body}");
        let _g = h.leading();
        h.add_ready_check("synced", || Ok(()));
        let (code, body) = get(probes, "/readyz").await;
        assert_eq!(
            (code, body.as_str()),
            (200, "[+]synced ok\nreadyz check passed\n")
        );
        assert_eq!(
            get(probes, "/metrics").await.0,
            404,
            "metrics only on its address"
        );
        let (code, body) = get(metrics, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains("kubestellar_leader{component=\"controller\"} 1"),
            "{body}"
        );
        assert_eq!(get(metrics, "/healthz").await.0, 404);

        let taken = h.serve(Some(&probes.to_string()), None).await;
        assert!(
            matches!(taken, Err(HealthError::Bind { .. })),
            "address in use"
        );
        drop(ep);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            tokio::net::TcpStream::connect(probes).await.is_err(),
            "stopped on drop"
        );

        let one = h
            .serve(Some("127.0.0.1:0"), None)
            .await
            .expect("probes only");
        assert!(one.metrics.is_none());
    }
}
