//! Secrets never leak: every source (scc, akana, tr50, tencent, aveva) runs with recognisable secrets at debug log level (all
//! crates, hyper and reqwest included) and fails in every way — wrong credentials, 5xx, HTML with
//! 200, truncated and wrongly typed JSON, rate limits, a body over the cap, auth expiry — and no log line, error
//! message, landing page or `/metrics` body may contain a secret, nor its base64,
//! basic-auth (`user:password` base64) or URL-encoded form.
//!
//! All integration tests share one process, so the log subscriber (writing into a buffer the test
//! reads) is this test's thread-local default, not the global one: it sees exactly this test's
//! logs. The daemon and the simulators run on the test's current-thread runtime, hence on that
//! thread.

use crate::support::{self, sample, TestDaemon};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_subscriber::util::SubscriberInitExt;
use usage_exporter_sim::akana::{self, AkanaSim};
use usage_exporter_sim::aveva::{self, AvevaSim};
use usage_exporter_sim::scc::{SccSim, SccState};
use usage_exporter_sim::tencent::{self, TencentSim, TencentSimState};
use usage_exporter_sim::tr50::{self, Tr50Sim};
use usage_exporter_sim::Fault;

const WAIT: Duration = Duration::from_secs(30);

// Recognisable secrets, with characters that change under URL and base64 encoding.
const SCC_PW: &str = "S3CR3T-scc-pw+6620/q=";
const SCC_BAD_PW: &str = "S3CR3T-scc-wrong+1717/r=";
const AKANA_PW: &str = "S3CR3T-akana-pw+7781/x=";
const AKANA_BAD_PW: &str = "S3CR3T-akana-wrong+0042/y=";
const TR50_PW: &str = "S3CR3T-tr50-pw+4410/z=";
const TR50_BAD_TOKEN: &str = "S3CR3T-tr50-apptoken+5521/w=";
const TENCENT_ID: &str = "AKIDS3CR3Ttencentid1207";
const TENCENT_KEY: &str = "S3CR3T-tencent-key+9902/v=";
const TENCENT_BAD_KEY: &str = "S3CR3T-tencent-badkey+3141/u=";
const AVEVA_CS: &str = "S3CR3T-aveva-cs+3318/t=";
const AVEVA_BAD_CS: &str = "S3CR3T-aveva-badcs+2718/s=";

const SCC_USER: &str = "monitor";
const AKANA_USER: &str = "monitor@acmepaymentscorp.com";
const TR50_USER: &str = "monitor@example.com";

/// A `Write` into a shared buffer, for the log subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Every form a secret could leak in: plain, base64 (standard and URL-safe, with and without
/// padding), URL-encoded (form and percent-encoding), JSON-escaped, and as the base64 of a
/// basic-auth `user:secret` pair.
fn forms(secret: &str, users: &[&str]) -> Vec<String> {
    use base64::Engine;
    let b64 = |s: &str| {
        let e = base64::engine::general_purpose::STANDARD.encode(s);
        vec![
            e.clone(),
            e.trim_end_matches('=').to_string(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s),
        ]
    };
    let mut out = vec![
        secret.to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        secret
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D"),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_string(),
    ];
    out.extend(b64(secret));
    for user in users {
        out.extend(b64(&format!("{user}:{secret}")));
    }
    // A distinctive middle part, in case a secret is cut or wrapped.
    out.push(secret[..secret.len() - 3].to_string());
    out.sort();
    out.dedup();
    out
}

fn assert_no_secret(what: &str, text: &str) {
    let all = [
        (SCC_PW, &[SCC_USER][..]),
        (SCC_BAD_PW, &[SCC_USER][..]),
        (AKANA_PW, &[AKANA_USER][..]),
        (AKANA_BAD_PW, &[AKANA_USER][..]),
        (TR50_PW, &[TR50_USER][..]),
        (TR50_BAD_TOKEN, &["usage-app"][..]),
        (TENCENT_ID, &[][..]),
        (TENCENT_KEY, &[TENCENT_ID][..]),
        (TENCENT_BAD_KEY, &[TENCENT_ID][..]),
        (AVEVA_CS, &[aveva::CLIENT_ID][..]),
        (AVEVA_BAD_CS, &[aveva::CLIENT_ID][..]),
    ];
    for (secret, users) in all {
        for form in forms(secret, users) {
            if let Some(at) = text.find(&form) {
                let start = text[..at]
                    .char_indices()
                    .rev()
                    .nth(200)
                    .map_or(0, |(i, _)| i);
                let end = (at + form.len() + 200).min(text.len());
                let end = (end..=text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap();
                panic!(
                    "{what} contains the secret {secret:?} as {form:?}:\n...{}...",
                    &text[start..end]
                );
            }
        }
    }
}

fn item(lines: &str) -> String {
    let mut out = String::new();
    for (i, line) in lines.lines().enumerate() {
        out.push_str(if i == 0 { "    - " } else { "      " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

struct Sims {
    scc: SccSim,
    akana: AkanaSim,
    tr50: Tr50Sim,
    tencent: TencentSim,
    aveva: AvevaSim,
}

impl Sims {
    async fn start() -> Sims {
        let mut scc_state = SccState::generated(2);
        scc_state.username = SCC_USER.into();
        scc_state.password = SCC_PW.into();
        let scc = SccSim::start(scc_state, None).await.unwrap();
        let mut akana_state = akana::State::default();
        akana_state.password = AKANA_PW.into();
        let akana = AkanaSim::start(akana_state).await.unwrap();
        let mut tr50_state = tr50::SimState::new();
        tr50_state.users[0].password = TR50_PW.into();
        let tr50 = Tr50Sim::start(tr50_state).await.unwrap();
        let tencent = TencentSim::start(TencentSimState::new(TENCENT_ID, TENCENT_KEY, 2))
            .await
            .unwrap();
        let aveva = AvevaSim::start(aveva::SimConfig::default()).await.unwrap();
        aveva.set_client_secret(AVEVA_CS);
        Sims {
            scc,
            akana,
            tr50,
            tencent,
            aveva,
        }
    }

    /// Good targets (`good`, `good-v2`) and targets with wrong credentials (`bad`).
    fn config(&self) -> String {
        let instance = tencent::instance_id(0);
        let mut y = String::from("global:\n  timeout: 500ms\n  max_backoff_factor: 1\n  body_limit_bytes: 200000\nsources:\n");
        y.push_str("  scc:\n");
        for (name, pw) in [("good", SCC_PW), ("bad", SCC_BAD_PW)] {
            y.push_str(&item(&format!(
                "name: {name}\nurl: {}\nusername: {SCC_USER}\npassword: \"{pw}\"\nendpoints: {{health: 200ms, master_role: 200ms, subaccounts: 200ms, memory: 200ms}}",
                self.scc.url()
            )));
        }
        y.push_str("  akana:\n");
        for (name, pw) in [("good", AKANA_PW), ("bad", AKANA_BAD_PW)] {
            y.push_str(&item(&format!(
                "name: {name}\nurl: {}\nsubscription_id: acmepaymentscorp\nemail: {AKANA_USER}\npassword: \"{pw}\"\nendpoints: {{metrics: 200ms}}",
                self.akana.url()
            )));
        }
        y.push_str("  tr50:\n");
        y.push_str(&item(&format!(
            "name: good\nurl: {}\nusername: {TR50_USER}\npassword: \"{TR50_PW}\"\nendpoints: {{api_history: 200ms}}",
            self.tr50.url()
        )));
        y.push_str(&item(&format!(
            "name: bad\nurl: {}\napp_id: usage-app\napp_token: \"{TR50_BAD_TOKEN}\"\nthing_key: exporter\nendpoints: {{api_history: 200ms}}",
            self.tr50.url()
        )));
        y.push_str("  tencent:\n");
        for (name, api, key, ns, metric, dim) in [
            (
                "good",
                "v3",
                TENCENT_KEY,
                "QCE/CVM",
                "CPUUsage",
                "InstanceId",
            ),
            (
                "good-v2",
                "v2",
                TENCENT_KEY,
                "qce/cvm",
                "cpu_usage",
                "unInstanceId",
            ),
            (
                "bad",
                "v3",
                TENCENT_BAD_KEY,
                "QCE/CVM",
                "CPUUsage",
                "InstanceId",
            ),
        ] {
            y.push_str(&item(&format!(
                "name: {name}\napi: {api}\nurl: {}\nregion: ap-guangzhou\nsecret_id: \"{TENCENT_ID}\"\nsecret_key: \"{key}\"\nendpoints: {{metric_data: 200ms, metric_catalog: 200ms}}\nmetrics:\n  - namespace: {ns}\n    names: [{metric}]\n    period: 60s\n    instances: [{{{dim}: {instance}}}]",
                self.tencent.url()
            )));
        }
        y.push_str("  aveva:\n");
        for (name, cs) in [("good", AVEVA_CS), ("bad", AVEVA_BAD_CS)] {
            y.push_str(&item(&format!(
                "name: {name}\nurl: {}\ntenant_id: {}\nclient_id: {}\nclient_secret: \"{cs}\"\ncommunity_ids: []\nendpoints: {{tenant_usage: 200ms, community_usage: off, resource_usage: 200ms, billing_cycles: off}}",
                self.aveva.url(),
                aveva::TENANT_ID,
                aveva::CLIENT_ID
            )));
        }
        y
    }

    fn set_fault(&self, fault: Fault) {
        self.scc.set_fault(None, fault.clone());
        self.akana.faults.set(fault.clone());
        self.tr50.faults.set(fault.clone());
        self.tencent.faults.set(fault.clone());
        self.aveva.faults().set(fault);
    }

    fn wrong_types(&self, on: bool) {
        self.scc.state().reply_override =
            on.then(|| json!({"physicalKB": "plenty", "subaccounts": "none"}));
        self.akana.with(|s| {
            s.data = if on {
                // A month-to-date total that is no number fails the decode (number::or_fail).
                akana::Data::Custom(json!({"UsageMetric": {"MetricID": "PlatformApiUsage",
                    "MetricType": "PerDayWithAggregate",
                    "AggregateUsage": {"MetricItem": {"Name": "TotalUsageCount", "MetricValue": "plenty"}}}}))
            } else {
                akana::Data::Sample
            }
        });
        self.tr50.state().reply_override =
            on.then(|| json!({"1": {"success": true, "params": "not an object"}}));
        self.tencent.with(|s| {
            // A string where v3 and v2 both expect an object (v2 is lenient below the top).
            s.reply_override = on.then(|| json!("not an object"))
        });
        self.aveva
            .serve_json(on.then(|| json!({"Records": "not a list"})));
    }
}

/// Good targets and their polled endpoints.
const GOOD: &[(&str, &str, &str)] = &[
    ("scc", "good", "memory"),
    ("scc", "good", "subaccounts"),
    ("akana", "good", "metrics"),
    ("tr50", "good", "api_history"),
    ("tencent", "good", "metric_data"),
    ("tencent", "good-v2", "metric_data"),
    ("aveva", "good", "tenant_usage"),
];

const BAD: &[(&str, &str, &str)] = &[
    ("scc", "bad", "memory"),
    ("akana", "bad", "metrics"),
    ("tr50", "bad", "api_history"),
    ("tencent", "bad", "metric_data"),
    ("aveva", "bad", "tenant_usage"),
];

fn errors(body: &str, (source, target, endpoint): (&str, &str, &str)) -> f64 {
    support::samples(
        body,
        "usage_exporter_poll_errors_total",
        &[
            ("source", source),
            ("target", target),
            ("endpoint", endpoint),
        ],
    )
    .iter()
    .map(|l| l.value)
    .sum()
}

fn success(body: &str, (source, target, endpoint): (&str, &str, &str)) -> Option<f64> {
    sample(
        body,
        "usage_exporter_poll_success",
        &[
            ("source", source),
            ("target", target),
            ("endpoint", endpoint),
        ],
    )
}

/// Everything an operator can see, checked for secrets.
struct Observer {
    logs: Captured,
    seen: Vec<(String, String)>,
}

impl Observer {
    async fn look(&mut self, d: &TestDaemon, when: &str) -> String {
        let body = d.metrics().await;
        let (_, page) = d.get("/").await;
        assert_no_secret(&format!("/metrics ({when})"), &body);
        assert_no_secret(&format!("landing page ({when})"), &page);
        assert_no_secret(&format!("logs (until {when})"), &self.logs.text());
        self.seen.push((when.into(), page));
        body
    }

    /// Waits until every `targets` endpoint failed at least once more than in `before`.
    async fn wait_failures(
        &mut self,
        d: &TestDaemon,
        when: &str,
        before: &str,
        targets: &[(&str, &str, &str)],
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.look(d, when).await;
            let missing: Vec<_> = targets
                .iter()
                .filter(|t| errors(&body, **t) < errors(before, **t) + 1.0)
                .collect();
            if missing.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: no new failure of {missing:?}; landing page:\n{}",
                d.get("/").await.1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_good(&mut self, d: &TestDaemon, when: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let body = self.look(d, when).await;
            if GOOD.iter().all(|t| success(&body, *t) == Some(1.0)) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: good targets did not all succeed; landing page:\n{}",
                d.get("/").await.1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn no_secret_in_logs_errors_landing_page_or_metrics() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();
    let mut o = Observer {
        logs,
        seen: Vec::new(),
    };
    let sims = Sims::start().await;
    let d = support::start(&sims.config()).await;

    // Wrong credentials fail, right ones work (so the secrets really were used).
    let start = String::new();
    o.wait_failures(&d, "wrong credentials", &start, BAD).await;
    let body = o.wait_good(&d, "first good polls").await;
    for t in BAD {
        assert_eq!(success(&body, *t), Some(0.0), "{t:?}");
    }
    let (_, page) = d.get("/").await;
    assert!(
        page.contains("secret_key"),
        "the Tencent auth error names the key: {page}"
    );

    for (when, fault) in [
        ("5xx", Fault::Status(500)),
        ("HTML with 200", Fault::Html200),
        ("truncated JSON", Fault::TruncatedJson),
        ("429 with Retry-After", Fault::RetryAfter(429, 1)),
        ("503 with Retry-After", Fault::RetryAfter(503, 1)),
        ("body over the cap", Fault::HugeBody(1_000_000)),
    ] {
        let before = d.metrics().await;
        sims.set_fault(fault);
        o.wait_failures(&d, when, &before, GOOD).await;
        sims.set_fault(Fault::None);
        o.wait_good(&d, &format!("recovery after {when}")).await;
    }

    let before = d.metrics().await;
    sims.wrong_types(true);
    o.wait_failures(&d, "wrongly typed JSON", &before, GOOD)
        .await;
    sims.wrong_types(false);
    o.wait_good(&d, "recovery after wrongly typed JSON").await;

    // Auth expiry: sessions and tokens end upstream, the Tencent key is rotated.
    let logins = (
        sims.akana.logins(),
        sims.tr50.counters().login_attempts,
        sims.aveva.token_requests(),
    );
    sims.akana.expire_tokens();
    sims.tr50.state().expire_sessions();
    sims.aveva.revoke_tokens();
    sims.tencent
        .with(|s| s.secret_key = "rotated-upstream".into());
    sims.scc.state().password = "rotated-upstream".into();
    let before = d.metrics().await;
    o.wait_failures(
        &d,
        "auth expiry",
        &before,
        &[
            ("tencent", "good", "metric_data"),
            ("scc", "good", "memory"),
        ],
    )
    .await;
    sims.tencent.with(|s| s.secret_key = TENCENT_KEY.into());
    sims.scc.state().password = SCC_PW.into();
    o.wait_good(&d, "recovery after auth expiry").await;
    assert!(sims.akana.logins() > logins.0);
    assert!(sims.tr50.counters().login_attempts > logins.1);
    assert!(sims.aveva.token_requests() > logins.2);

    // The debug log really captured the daemon's own failure lines.
    let text = o.logs.text();
    assert!(text.contains("endpoint failing"), "{text}");
    assert!(text.contains("DEBUG"), "debug level is on");
    let (_, ready) = d.get("/-/ready").await;
    assert_no_secret("/-/ready", &ready);
    let (_, healthy) = d.get("/-/healthy").await;
    assert_no_secret("/-/healthy", &healthy);
    d.stop().await;
    assert_no_secret("logs after shutdown", &o.logs.text());
    assert!(o.seen.len() > 10);
}

/// The check itself finds every form (so a passing leak test is not vacuous).
#[test]
fn the_leak_check_finds_every_encoded_form() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SCC_USER}:{SCC_PW}"));
    let leaks = [
        format!("error: {SCC_PW} rejected"),
        format!("Authorization: Basic {basic}"),
        format!(
            "body=password%3D{}",
            url::form_urlencoded::byte_serialize(AVEVA_CS.as_bytes()).collect::<String>()
        ),
        base64::engine::general_purpose::STANDARD.encode(TENCENT_KEY),
        format!("url?SecretId={TENCENT_ID}"),
    ];
    for leak in leaks {
        let caught = std::panic::catch_unwind(|| assert_no_secret("sample", &leak));
        assert!(caught.is_err(), "not caught: {leak}");
    }
    assert_no_secret("clean text", "password: <secret>, SecretId=<secret>");
}
