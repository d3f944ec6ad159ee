//! usage_exporter: a Prometheus exporter for SAP Cloud Connector, Akana, TR50, Tencent Cloud
//! Monitor and AVEVA CONNECT data services.
//!
//! Data flows one way: [`config`] → [`schedule`] → [`sources`] (client → model → translate) →
//! [`snapshot`] → [`store`] → [`expose`] → [`http`].
//!
//! The simulators of the five APIs are the separate crate `usage_exporter_sim` (`sim/`); the
//! `demo` feature (on by default) adds the `demo` module and subcommand that run them.

pub mod base;
pub mod check;
pub mod config;
pub mod daemon;
#[cfg(feature = "demo")]
pub mod demo;
pub mod expose;
pub mod http;
pub mod schedule;
pub mod shard;
pub mod snapshot;
pub mod sources;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod upstream;

#[cfg(test)]
mod architecture_tests;
