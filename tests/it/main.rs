//! The integration tests: one test binary (one link, one process), one module per area.
//!
//! All tests share this process. A test must not change process-wide state (environment
//! variables, the current directory, the global tracing subscriber); tests that measure or
//! strain the process's memory hold [`support::memory_heavy`]. Fixtures are in `tests/fixtures/`.
//!
//! Run one module with `cargo test --test it <module>::`, e.g. `cargo test --test it scc::`.

mod e2e_support;
mod support;

mod akana;
mod aveva;
mod core;
mod e2e_alerts;
mod e2e_prometheus;
mod faults;
mod formats;
mod fuzz_props;
mod metrics_doc;
mod pages;
mod partial_budget;
mod redirects;
mod reliability;
mod restart;
mod runbooks;
mod scc;
mod secrets;
mod sharding;
mod sim_demo;
mod tencent;
mod tencent_discovery;
mod tr50;
mod web_and_reload;
mod web_limits;
