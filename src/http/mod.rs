//! The HTTP server: `/metrics`, the landing page, health, readiness and reload; optional TLS
//! and basic auth from the web config. It only reads the store and the exposition cache.

mod headers;
mod landing;
pub mod ratelimit;
pub mod tls;
mod webconfig;

pub use headers::ExtraHeaders;
pub use webconfig::{web_handle, BasicAuth, WebConfig, WebConfigError, WebHandle};

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

/// How long a client may take to send a request's headers, and how long a kept-alive
/// connection may sit idle before its next request: a slow or silent client (slowloris) holds a
/// connection no longer than this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest request head (request line and headers) accepted; larger ones get 431.
pub const MAX_REQUEST_HEAD_BYTES: usize = 16 * 1024;

/// Most headers accepted in one request.
pub const MAX_REQUEST_HEADERS: usize = 64;

/// Serving limits set on the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Requests served at once (`--web.max-requests`); more get 503 at once. 0: no limit.
    pub max_requests: usize,
    /// Path of the exposition (`--web.telemetry-path`).
    pub telemetry_path: String,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_requests: 40,
            telemetry_path: "/metrics".into(),
        }
    }
}

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
    /// Path of the exposition (`/metrics` unless `--web.telemetry-path` says otherwise).
    pub telemetry_path: String,
    /// Self-metrics and facts such as this replica's shard, for the landing page.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// The daemon's clock, which the poll times on the landing page come from.
    pub clock: crate::base::clock::SharedClock,
}

/// Accepts on every listener until `shutdown` is cancelled (each listener in its own task,
/// handing connections to one loop).
fn accept_all(
    listeners: Vec<TcpListener>,
    shutdown: &CancellationToken,
) -> tokio::sync::mpsc::Receiver<(tokio::net::TcpStream, std::net::SocketAddr)> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for listener in listeners {
        let (tx, shutdown) = (tx.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                match accepted {
                    Ok(conn) => {
                        if tx.send(conn).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors, mostly: wait instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    rx
}

/// Serves on `listeners` until `shutdown` is cancelled, then lets open requests finish (up to
/// 5 s). Each new connection takes the web config then in `web` (TLS, auth, headers, rate
/// limit), so a reload applies to the connections after it.
pub async fn serve(
    listeners: Vec<TcpListener>,
    state: AppState,
    web: WebHandle,
    options: ServeOptions,
    shutdown: CancellationToken,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let in_flight = (options.max_requests > 0)
        .then(|| Arc::new(tokio::sync::Semaphore::new(options.max_requests)));
    let mut connections = accept_all(listeners, &shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = connections.recv() => match accepted {
                Some(a) => a,
                None => break,
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let web = web.load_full();
        let acceptor = web.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let in_flight = in_flight.clone();
        let service = hyper::service::service_fn(move |req| {
            let state = state.clone();
            let web = web.clone();
            let in_flight = in_flight.clone();
            async move {
                // The rate limit comes first, before the request cap and authentication.
                if let Some(refused) = ratelimit::check(&web) {
                    return Ok::<_, Infallible>(refused);
                }
                // Beyond the cap a request is refused at once rather than queued, so a crowd of
                // slow clients cannot make Prometheus' scrape wait for a slot.
                let permit = match &in_flight {
                    Some(s) => match s.clone().try_acquire_owned() {
                        Ok(p) => Some(p),
                        Err(_) => {
                            let mut resp = too_many_requests();
                            web.headers.apply(&mut resp);
                            return Ok::<_, Infallible>(resp);
                        }
                    },
                    None => None,
                };
                let mut resp = handle(req, state, web.auth.clone()).await;
                web.headers.apply(&mut resp);
                // A request is in flight until its body is sent (as promhttp counts it), so
                // clients that read slowly count against the cap too.
                Ok::<_, Infallible>(match permit {
                    Some(permit) => resp.map(|body| {
                        BodyExt::boxed(Permitted {
                            body,
                            _permit: permit,
                        })
                    }),
                    None => resp,
                })
            }
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_REQUEST_HEAD_BYTES.max(8192))
            .max_headers(MAX_REQUEST_HEADERS);
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
    drop(connections);
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
    let telemetry = path == state.telemetry_path;
    match (req.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, _) if telemetry => metrics(&req, &state).await,
        (&Method::GET | &Method::HEAD, "/") => html(landing::render(&state).await),
        (&Method::GET | &Method::HEAD, "/status") => {
            match landing::render_detail(&state, req.uri().query().unwrap_or("")) {
                Some(page) => html(page),
                None => text(
                    StatusCode::NOT_FOUND,
                    "No such endpoint. See / for the polled endpoints.\n",
                ),
            }
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
        (_, p) if telemetry || matches!(p, "/" | "/status" | "/-/healthy" | "/-/ready") => {
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

/// A response body holding a request slot until it is sent or dropped.
struct Permitted {
    body: Body,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl hyper::body::Body for Permitted {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

fn too_many_requests() -> Response<Body> {
    let mut resp = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many concurrent requests (--web.max-requests); retry shortly.\n",
    );
    resp.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

fn html(page: String) -> Response<Body> {
    let mut resp = Response::new(full(page));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
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
