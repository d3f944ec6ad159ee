//! The landing page and the endpoint detail pages, rendered by a real browser (Debian's headless
//! Chromium) against the demo: every endpoint has a detail page, the pages work at a phone's
//! width, and no secret of the demo's configuration appears in their HTML or rendered DOM.
//! `UPDATE_SCREENSHOTS=1` copies the screenshots to docs/ (the README shows them).

use crate::e2e_support::{find_tool, free_port, repo, skip, wait_ok, Procs};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The secret values of the configuration the demo printed (password, token and key fields).
fn demo_secrets(log: &str) -> Vec<String> {
    let keys = [
        "password:",
        "secret_key:",
        "secret_id:",
        "client_secret:",
        "app_token:",
    ];
    log.lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            let key = keys.iter().find(|k| l.starts_with(*k))?;
            let value = l[key.len()..].trim().trim_matches('"').to_string();
            (value.len() >= 6).then_some(value)
        })
        .collect()
}

/// Renders `url` with headless Chromium at `width`×`height`: a PNG at `png` and the DOM.
fn chromium(chromium: &Path, url: &str, width: u32, height: u32, png: &Path) -> String {
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ];
    let profile = tempfile::tempdir().unwrap();
    let shot = Command::new(chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        shot.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(chromium)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(dom.status.success());
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

fn assert_png(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        path.display()
    );
    assert!(bytes.len() > 5_000, "{} is nearly empty", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_and_detail_pages_render_in_chromium_without_secrets() {
    if skip() {
        return;
    }
    let browser = find_tool("chromium");
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    procs.spawn(
        "demo",
        Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("demo")
            .arg("--demo.time=2026-06-16T12:00:00Z")
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        dir.path(),
    );
    let client = reqwest::Client::new();
    wait_ok(
        &mut procs,
        &client,
        &format!("{url}/-/ready"),
        Duration::from_secs(60),
        "the demo",
    )
    .await;
    let log = std::fs::read_to_string(dir.path().join("demo.log")).unwrap();
    let secrets = demo_secrets(&log);
    assert!(secrets.len() >= 4, "the demo's secrets: {secrets:?}");

    let landing = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(landing.contains("class=\"summary\""), "{landing:.500}");
    let links: Vec<String> = landing
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("/status?"))
        .map(|h| h.replace("&amp;", "&"))
        .collect();
    let endpoints: usize = landing
        .split(" series from ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the endpoint count");
    assert!(links.len() >= 20, "{} detail links", links.len());
    assert_eq!(links.len(), endpoints, "one detail link per endpoint row");
    let mut pages = vec![landing.clone()];
    for link in &links {
        let resp = client.get(format!("{url}{link}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{link}");
        let page = resp.text().await.unwrap();
        for section in [
            "Last polls",
            "Upstream requests of the last poll",
            "Families produced",
        ] {
            assert!(page.contains(section), "{link}: no {section:?}");
        }
        pages.push(page);
    }
    // A polled endpoint lists its requests and what it produced.
    let memory = links
        .iter()
        .position(|l| l.contains("endpoint=memory"))
        .unwrap();
    let page = &pages[memory + 1];
    assert!(
        page.contains("<code>/api/monitoring/memory</code>"),
        "{page}"
    );
    assert!(page.contains("<code>scc_memory"), "{page}");
    let missing = client
        .get(format!(
            "{url}/status?source=scc&target=nope&endpoint=memory"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A real browser: the landing page at a desktop's width, a detail page at a phone's.
    let landing_png = dir.path().join("landing.png");
    let detail_png = dir.path().join("endpoint-detail.png");
    let landing_dom = chromium(&browser, &url, 1280, 1000, &landing_png);
    let detail_url = format!("{url}{}", links[memory]);
    let detail_dom = chromium(&browser, &detail_url, 390, 844, &detail_png);
    assert_png(&landing_png);
    assert_png(&detail_png);
    assert!(landing_dom.contains("usage_exporter"), "{landing_dom:.300}");
    assert!(detail_dom.contains("Last polls"), "{detail_dom:.300}");
    pages.push(landing_dom);
    pages.push(detail_dom);
    for page in &pages {
        assert!(!page.contains("<script"), "the pages need no scripts");
        assert!(
            !page.contains("http://") || !page.contains("<link"),
            "no external assets"
        );
        for secret in &secrets {
            assert!(!page.contains(secret.as_str()), "a secret in a page");
        }
    }
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        std::fs::copy(&landing_png, repo().join("docs/landing.png")).unwrap();
        std::fs::copy(&detail_png, repo().join("docs/endpoint-detail.png")).unwrap();
    }
}
