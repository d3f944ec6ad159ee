//! Simulators of the vendor APIs on 127.0.0.1, used by usage_exporter's `demo`, its integration
//! tests and its benchmarks: SAP Cloud Connector ([`scc`]), Akana ([`akana`]), TR50 ([`tr50`]),
//! Tencent Cloud Monitor ([`tencent`]) and AVEVA CONNECT data services ([`aveva`]); [`demo`]
//! starts them all.
//!
//! The crate depends on nothing in the exporter: each simulator implements its vendor's protocol
//! from the vendor documentation. This file holds what they share: a small HTTP(S) server around a
//! handler, request helpers, switchable fault modes, and the [`SimClock`] every simulator reads
//! "now" from (real time for the demo, a fixed or shifted time for tests).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{HeaderMap, Method};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use clock::SimClock;

pub mod akana;
pub mod aveva;
pub mod clock;
pub mod demo;
pub mod scc;
pub mod tencent;
pub mod tr50;

/// A request as a simulator sees it.
#[derive(Debug, Clone)]
pub struct SimRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl SimRequest {
    /// Decoded query pairs in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// First query value of `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decoded HTTP basic credentials.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        use base64::Engine;
        let encoded = self.header("authorization")?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    /// A cookie value by name.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body parsed as a form.
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// A simulator's answer.
#[derive(Debug, Clone)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl SimResponse {
    /// A JSON answer.
    pub fn json(status: u16, value: &impl serde::Serialize) -> Self {
        SimResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(serde_json::to_vec(value).expect("serialisable")),
        }
    }

    /// A raw answer with a content type.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        SimResponse {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// An empty answer.
    pub fn empty(status: u16) -> Self {
        SimResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// Something that answers simulator requests.
pub trait SimHandler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, request: SimRequest)
        -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>>;
}

/// A running simulator server.
pub struct SimServer {
    /// Bound address (127.0.0.1, random port).
    pub addr: SocketAddr,
    tls: bool,
    shutdown: CancellationToken,
    requests: Arc<AtomicU64>,
}

impl SimServer {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Requests served so far.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves `handler` on 127.0.0.1 (random port), over TLS when `tls` is given.
pub async fn serve(
    handler: Arc<dyn SimHandler>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<SimServer> {
    serve_on("127.0.0.1:0", handler, tls).await
}

/// Like [`serve`] on a given address.
pub async fn serve_on(
    address: &str,
    handler: Arc<dyn SimHandler>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<SimServer> {
    let listener = TcpListener::bind(address).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let requests = Arc::new(AtomicU64::new(0));
    let server = SimServer {
        addr,
        tls: tls.is_some(),
        shutdown: shutdown.clone(),
        requests: requests.clone(),
    };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((s, _)) => s,
                    Err(_) => continue,
                },
            };
            let handler = handler.clone();
            let requests = requests.clone();
            let acceptor = acceptor.clone();
            let conn_shutdown = shutdown.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    let requests = requests.clone();
                    async move {
                        requests.fetch_add(1, Ordering::SeqCst);
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let request = SimRequest {
                            method: parts.method,
                            path: parts.uri.path().to_string(),
                            query: parts.uri.query().map(str::to_string),
                            headers: parts.headers,
                            body,
                        };
                        let answer = handler.handle(request).await;
                        let mut resp = hyper::Response::new(Full::new(answer.body));
                        *resp.status_mut() = hyper::StatusCode::from_u16(answer.status)
                            .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
                        for (k, v) in answer.headers {
                            if let (Ok(k), Ok(v)) = (
                                hyper::header::HeaderName::from_bytes(k.as_bytes()),
                                hyper::header::HeaderValue::from_str(&v),
                            ) {
                                resp.headers_mut().append(k, v);
                            }
                        }
                        Ok::<_, Infallible>(resp)
                    }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let result = match acceptor {
                    None => {
                        tokio::select! {
                            _ = conn_shutdown.cancelled() => return,
                            r = builder.serve_connection(TokioIo::new(stream), service) => r,
                        }
                    }
                    Some(acceptor) => {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = conn_shutdown.cancelled() => return,
                            r = builder.serve_connection(TokioIo::new(tls), service) => r,
                        }
                    }
                };
                let _ = result;
            });
        }
    });
    Ok(server)
}

/// Failure modes a simulator can be switched into (tests and the demo).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Fault {
    /// Normal operation.
    #[default]
    None,
    /// Answer every request with this status and a short JSON error body.
    Status(u16),
    /// Never answer.
    Hang,
    /// Answer normally after this delay.
    Slow(Duration),
    /// Answer 200 with an HTML login page.
    Html200,
    /// Cut the normal JSON body in half.
    TruncatedJson,
    /// Answer with this status and `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// Answer 200 with a JSON body of this many bytes.
    HugeBody(usize),
}

/// A switchable fault mode shared between a simulator and its controller.
#[derive(Debug, Default)]
pub struct Faults {
    mode: Mutex<Fault>,
    /// The body of [`Fault::HugeBody`], built once when the fault is set and shared by every
    /// answer (so the simulator's own memory does not grow per request).
    huge: Mutex<Bytes>,
}

/// The HTML a misconfigured or session-less upstream serves instead of JSON.
pub const LOGIN_PAGE: &str = "<!DOCTYPE html><html><head><title>Login</title></head><body><form method=\"post\" action=\"j_security_check\"><input name=\"j_username\"></form></body></html>";

impl Faults {
    /// Switches the mode.
    pub fn set(&self, fault: Fault) {
        if let Fault::HugeBody(size) = fault {
            let mut body = Vec::with_capacity(size);
            body.extend_from_slice(b"{\"padding\":\"");
            body.resize(size.saturating_sub(2), b'x');
            body.extend_from_slice(b"\"}");
            *self.huge.lock().expect("fault lock") = Bytes::from(body);
        }
        *self.mode.lock().expect("fault lock") = fault;
    }

    /// The current mode.
    pub fn get(&self) -> Fault {
        self.mode.lock().expect("fault lock").clone()
    }

    /// Applies the mode around a normal answer produced by `normal`.
    pub async fn apply<F, Fut>(&self, normal: F) -> SimResponse
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = SimResponse>,
    {
        match self.get() {
            Fault::None => normal().await,
            Fault::Status(code) => SimResponse::json(
                code,
                &serde_json::json!({"type": "SIMULATED_FAULT", "message": format!("simulated HTTP {code}")}),
            ),
            Fault::Hang => {
                tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                SimResponse::empty(504)
            }
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                normal().await
            }
            Fault::Html200 => SimResponse::raw(200, "text/html;charset=UTF-8", LOGIN_PAGE),
            Fault::TruncatedJson => {
                let mut resp = normal().await;
                let half = resp.body.len() / 2;
                resp.body = resp.body.slice(..half);
                resp
            }
            Fault::RetryAfter(code, secs) => SimResponse::json(
                code,
                &serde_json::json!({"message": "simulated rate limit"}),
            )
            .with_header("retry-after", secs.to_string()),
            Fault::HugeBody(_) => SimResponse::raw(
                200,
                "application/json",
                self.huge.lock().expect("fault lock").clone(),
            ),
        }
    }
}

/// A fresh self-signed certificate for `127.0.0.1` and `localhost` as (cert PEM, key PEM),
/// like the one SCC ships for its UI by default.
pub fn self_signed_cert() -> (String, String) {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("rcgen can sign a simple certificate");
    (key.cert.pem(), key.signing_key.serialize_pem())
}
