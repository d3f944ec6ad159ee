//! Credentials never follow a redirect to another origin. Each source's simulator sits behind a
//! forwarding proxy that answers `307 Temporary Redirect` (which keeps method and body, the worst
//! case) to a second listener on another port — for every request, or for every request but the
//! login/token one, so both the login and the authenticated calls are tried. The second
//! listener must receive nothing at all: no basic auth, cookie, bearer token, signature or login
//! body. The poll fails with a message that says why.

use crate::support::{self, samples};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use usage_exporter_sim::{serve, SimHandler, SimRequest, SimResponse, SimServer};

/// Records every request it gets: the host a redirect would send credentials to.
#[derive(Default)]
struct Elsewhere {
    seen: Mutex<Vec<String>>,
}

impl SimHandler for Elsewhere {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        self.seen.lock().unwrap().push(format!(
            "{} {} {:?} {}",
            request.method,
            request.path,
            request.headers,
            String::from_utf8_lossy(&request.body)
        ));
        Box::pin(async { SimResponse::json(200, &serde_json::json!({})) })
    }
}

/// Forwards to `upstream`, except that requests whose path `redirect` selects are answered with
/// a 307 to `elsewhere`.
struct Redirector {
    upstream: String,
    elsewhere: String,
    redirect: fn(&str) -> bool,
    client: reqwest::Client,
}

impl SimHandler for Redirector {
    fn handle(
        &self,
        request: SimRequest,
    ) -> Pin<Box<dyn Future<Output = SimResponse> + Send + '_>> {
        Box::pin(async move {
            let path_and_query = match &request.query {
                Some(q) => format!("{}?{q}", request.path),
                None => request.path.clone(),
            };
            if (self.redirect)(&request.path) {
                return SimResponse::empty(307)
                    .with_header("location", format!("{}{path_and_query}", self.elsewhere));
            }
            let mut forward = self
                .client
                .request(
                    request.method.clone(),
                    format!("{}{path_and_query}", self.upstream),
                )
                .body(request.body.clone());
            for (name, value) in &request.headers {
                if name != "host" && name != "content-length" {
                    forward = forward.header(name, value);
                }
            }
            let Ok(resp) = forward.send().await else {
                return SimResponse::empty(502);
            };
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter(|(n, _)| *n != "content-length" && *n != "transfer-encoding")
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let body = resp.bytes().await.unwrap_or_default();
            SimResponse {
                status,
                headers,
                body,
            }
        })
    }
}

/// The origins (`http://127.0.0.1:port`) a YAML item names.
fn origins(yaml: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = yaml;
    while let Some(i) = rest.find("http://127.0.0.1:") {
        let tail = &rest[i..];
        let end = tail["http://127.0.0.1:".len()..]
            .find(|c: char| !c.is_ascii_digit())
            .map_or(tail.len(), |e| e + "http://127.0.0.1:".len());
        let origin = tail[..end].to_string();
        if !out.contains(&origin) {
            out.push(origin);
        }
        rest = &tail[end..];
    }
    out
}

/// Runs one source's demo target behind redirectors and checks that nothing reached elsewhere.
async fn check(kind: &str, item: String, redirect: fn(&str) -> bool, secrets: &[&str]) {
    // A daemon, a demo simulator and a proxy in this process: not while RSS is measured.
    let _alone = support::memory_heavy().await;
    let elsewhere = Arc::new(Elsewhere::default());
    let elsewhere_server: SimServer = serve(elsewhere.clone(), None).await.unwrap();
    let mut yaml = item;
    let mut proxies = Vec::new();
    for origin in origins(&yaml) {
        let proxy = serve(
            Arc::new(Redirector {
                upstream: origin.clone(),
                elsewhere: elsewhere_server.url(),
                redirect,
                client: reqwest::Client::new(),
            }),
            None,
        )
        .await
        .unwrap();
        yaml = yaml.replace(&origin, &proxy.url());
        proxies.push(proxy);
    }
    let mut config = format!("sources:\n  {kind}:\n");
    for (i, line) in yaml.lines().enumerate() {
        config.push_str(if i == 0 { "    - " } else { "      " });
        config.push_str(line);
        config.push('\n');
    }
    let d = support::start(&config).await;
    let body = d
        .wait_for(Duration::from_secs(30), |b| {
            samples(
                b,
                "usage_exporter_poll_errors_total",
                &[("source", kind), ("reason", "upstream_error")],
            )
            .iter()
            .any(|l| l.value >= 1.0)
        })
        .await;
    let (_, landing) = d.get("/").await;
    assert!(
        landing.contains("not followed"),
        "{kind}: the landing page does not say why:\n{landing}"
    );
    // Let every endpoint try (and its retries) before looking.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = elsewhere.seen.lock().unwrap().clone();
    assert!(
        seen.is_empty(),
        "{kind}: requests reached another origin: {seen:#?}"
    );
    for secret in secrets {
        assert!(
            !landing.contains(secret),
            "{kind}: {secret} on the landing page"
        );
        assert!(!body.contains(secret), "{kind}: {secret} in /metrics");
    }
    d.stop().await;
}

fn everything(_: &str) -> bool {
    true
}

#[tokio::test]
async fn scc_basic_auth_never_follows_a_redirect() {
    let (sim, item) = usage_exporter_sim::scc::start_demo(1).await.unwrap();
    let password = sim.state().password.clone();
    check("scc", item, everything, &[&password]).await;
}

#[tokio::test]
async fn akana_login_and_cookies_never_follow_a_redirect() {
    let (_sim, item) = usage_exporter_sim::akana::start_demo(1).await.unwrap();
    check("akana", item.clone(), everything, &[]).await;
    // The login goes through (a session cookie and CSRF token are issued); the data calls that
    // carry them are redirected.
    check("akana", item, |path| !path.contains("login"), &[]).await;
}

#[tokio::test]
async fn tr50_login_bodies_never_follow_a_redirect() {
    let (_sim, item) = usage_exporter_sim::tr50::start_demo(1).await.unwrap();
    check("tr50", item, everything, &["demo-tr50-password"]).await;
}

#[tokio::test]
async fn tencent_signed_requests_never_follow_a_redirect() {
    let (_sim, item) = usage_exporter_sim::tencent::start_demo(1).await.unwrap();
    check("tencent", item, everything, &[]).await;
}

#[tokio::test]
async fn aveva_tokens_never_follow_a_redirect() {
    let (_sim, item) = usage_exporter_sim::aveva::start_demo(1).await.unwrap();
    check("aveva", item.clone(), everything, &[]).await;
    // The token request goes through; the API calls carrying the bearer token are redirected.
    check("aveva", item, |path| path.starts_with("/api/"), &[]).await;
}
