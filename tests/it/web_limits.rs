//! The front door on the real binary: slow and abusive clients cannot starve a scrape, the
//! request cap answers 503 beyond it, several listen addresses and systemd socket activation
//! serve the same pages, the exposition path can be moved and the exporter's own process
//! metrics left out.

use crate::e2e_support::{find_tool, free_port, Procs};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts `usage_exporter demo` with `args` and waits until it is ready on `port`.
async fn demo(procs: &mut Procs, logs: &Path, port: u16, args: &[&str]) -> String {
    let url = format!("http://127.0.0.1:{port}");
    procs.spawn(
        "exporter",
        Command::new(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("demo")
            .arg("--demo.time=2026-06-16T12:00:00Z")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args),
        logs,
    );
    let client = reqwest::Client::new();
    crate::e2e_support::wait_ok(
        procs,
        &client,
        &format!("{url}/-/ready"),
        Duration::from_secs(60),
        "the demo",
    )
    .await;
    url
}

/// A scrape as Prometheus makes it; returns the status and how long it took.
async fn timed_scrape(url: &str) -> (u16, Duration) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let started = Instant::now();
    let resp = client
        .get(format!("{url}/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.bytes().await.unwrap();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_starve_a_scrape_and_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new();
    let port = free_port();
    let url = demo(&mut procs, dir.path(), port, &[]).await;

    // 200 slowloris connections: each sends its request head one byte every 200 ms.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        slow.push(tokio::spawn(async move {
            let head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
            let started = Instant::now();
            for byte in head.iter().cycle() {
                if conn.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                if started.elapsed() > Duration::from_secs(30) {
                    break;
                }
            }
            // The server closes the connection: reading gives EOF or an error, no response.
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
            (started.elapsed(), buf)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..3 {
        let (status, took) = timed_scrape(&url).await;
        assert_eq!(status, 200);
        // Starved, a scrape would wait for the 10 s header read timeout to cut the slow clients
        // off; the bound is a liveness check well below that, not a speed measurement.
        assert!(took < Duration::from_secs(5), "scrape took {took:?}");
    }
    // Every slow connection is closed after the header read timeout (10 s), not kept forever.
    for task in slow {
        let (open_for, answer) = task.await.unwrap();
        assert!(
            open_for < Duration::from_secs(20),
            "a slow client held its connection for {open_for:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            !answer.contains("# TYPE"),
            "a slow client got metrics: {answer}"
        );
    }
    // An idle kept-alive connection is closed too.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), idle.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "an idle keep-alive connection was never closed"
    );
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A request head beyond the cap is refused.
    let mut big = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = big.write_all(header.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), big.read_to_end(&mut buf)).await;
    let answer = String::from_utf8_lossy(&buf);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer:.200}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_cap_get_503_and_the_cap_frees_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new();
    let port = free_port();
    // About 5 MB of exposition, so a client that does not read holds its request open.
    let url = demo(
        &mut procs,
        dir.path(),
        port,
        &["--scale=12", "--web.max-requests=3"],
    )
    .await;
    let mut stuck = Vec::new();
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut conn = socket
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        stuck.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let client = reqwest::Client::new();
    let resp = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp.text().await.unwrap().contains("--web.max-requests"));
    drop(stuck);
    let started = Instant::now();
    loop {
        let (status, _) = timed_scrape(&url).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slots never freed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_listen_addresses_socket_activation_and_a_moved_telemetry_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Procs::new();
    let (a, b) = (free_port(), free_port());
    let url = demo(
        &mut procs,
        dir.path(),
        a,
        &[
            &format!("--web.listen-address=127.0.0.1:{b}"),
            "--web.telemetry-path=/probe/metrics",
            "--web.disable-exporter-metrics",
        ],
    )
    .await;
    let client = reqwest::Client::new();
    for port in [a, b] {
        let resp = client
            .get(format!("http://127.0.0.1:{port}/probe/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "port {port}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("# TYPE scc_"));
        // --web.disable-exporter-metrics: no process or exposition metrics; poll health stays.
        assert!(!body.contains("process_"), "process metrics exported");
        assert!(!body.contains("usage_exporter_exposition_"));
        assert!(body.contains("usage_exporter_poll_success"));
    }
    let resp = client.get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    procs.kill("exporter");

    // systemd socket activation: systemd-socket-activate binds, passes the socket as fd 3 with
    // LISTEN_FDS and LISTEN_PID, and the exporter serves it.
    let activate = find_tool("systemd-socket-activate");
    let port = free_port();
    procs.spawn(
        "activated",
        Command::new(activate)
            .arg(format!("--listen=127.0.0.1:{port}"))
            .arg(env!("CARGO_BIN_EXE_usage_exporter"))
            .arg("demo")
            .arg("--web.systemd-socket"),
        dir.path(),
    );
    let started = Instant::now();
    loop {
        if let Ok(resp) = client
            .get(format!("http://127.0.0.1:{port}/-/ready"))
            .send()
            .await
        {
            if resp.status() == 200 {
                break;
            }
        }
        procs.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the socket-activated exporter never got ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let body = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("usage_exporter_build_info"));
}
