//! The HTTP server: `/metrics`, the landing page, health, readiness and reload; optional TLS
//! and basic auth from the web config. It only reads the store and the exposition cache.

mod landing;
pub mod tls;
mod webconfig;

pub use webconfig::{BasicAuth, WebConfig};

use crate::expose::{negotiate, Exposition, ScrapeBody};
use crate::store::Store;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Response body type of every route.
pub type Body = BoxBody<Bytes, Infallible>;

/// Re-reads and applies the config; `Ok` carries a summary, `Err` the reason it was rejected.
pub type Reloader =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

/// What the routes need.
#[derive(Clone)]
pub struct AppState {
    /// The exposition cache.
    pub exposition: Arc<Exposition>,
    /// Endpoint states for readiness and the landing page.
    pub store: Arc<Store>,
    /// Config reload.
    pub reload: Reloader,
    /// Process start.
    pub started: SystemTime,
    /// Config file shown on the landing page.
    pub config_file: String,
}

/// Serves until `shutdown` is cancelled, then lets open requests finish (up to 5 s).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    web: WebConfig,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let auth = web.auth.clone();
        let service = hyper::service::service_fn(move |req| {
            let state = state.clone();
            let auth = auth.clone();
            async move { Ok::<_, Infallible>(handle(req, state, auth).await) }
        });
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        match &acceptor {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder
                        .serve_connection(TokioIo::new(tls), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after 5s; closing them");
    }
}

async fn handle(
    req: Request<Incoming>,
    state: AppState,
    auth: Option<Arc<BasicAuth>>,
) -> Response<Body> {
    if let Some(auth) = auth {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = tokio::task::spawn_blocking(move || auth.check(header.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            let mut resp = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"usage_exporter\""),
            );
            return resp;
        }
    }
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, "/metrics") => metrics(&req, &state).await,
        (&Method::GET | &Method::HEAD, "/") => {
            let html = landing::render(&state).await;
            let mut resp = Response::new(full(html));
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            resp
        }
        (&Method::GET | &Method::HEAD, "/-/healthy") => text(StatusCode::OK, "Healthy\n"),
        (&Method::GET | &Method::HEAD, "/-/ready") => {
            if state.store.ready() {
                text(StatusCode::OK, "Ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not ready: some endpoints have not finished their first poll\n",
                )
            }
        }
        (&Method::POST | &Method::PUT, "/-/reload") => match (state.reload)().await {
            Ok(summary) => text(StatusCode::OK, &format!("{summary}\n")),
            Err(reason) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("config rejected, previous config kept:\n{reason}\n"),
            ),
        },
        (_, "/-/reload") => {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Use POST to reload.\n");
            resp.headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static("POST, PUT"));
            resp
        }
        (_, "/metrics" | "/" | "/-/healthy" | "/-/ready") => {
            let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
            resp.headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            resp
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "Not found. See / for the available pages.\n",
        ),
    }
}

/// True when the client accepts gzip (`Accept-Encoding: gzip` without `q=0`).
pub fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

async fn metrics(req: &Request<Incoming>, state: &AppState) -> Response<Body> {
    let gzip = accepts_gzip(req.headers());
    let format = negotiate(
        req.headers()
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let body: ScrapeBody = state.exposition.scrape(format.encoding, gzip).await;
    let len = body.len();
    let head_only = req.method() == Method::HEAD;
    let stream = futures::stream::iter(
        body.chunks
            .into_iter()
            .filter(move |_| !head_only)
            .map(|c| Ok::<_, Infallible>(Frame::data(c))),
    );
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_str(&format.content_type).expect("negotiated content types are ASCII"),
    );
    headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(
        hyper::header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

fn full(body: impl Into<Bytes>) -> Body {
    BodyExt::boxed(Full::new(body.into()))
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_negotiation() {
        let h = |v: &str| {
            let mut m = hyper::HeaderMap::new();
            m.insert(ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("deflate, gzip;q=0.8"));
        assert!(h("*"));
        assert!(!h("gzip;q=0"));
        assert!(!h("identity"));
        assert!(!h("br, deflate"));
        assert!(!accepts_gzip(&hyper::HeaderMap::new()));
    }
}
