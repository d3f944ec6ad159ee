//! usage_exporter: a Prometheus exporter for SAP Cloud Connector, Akana, TR50, Tencent Cloud
//! Monitor and AVEVA CONNECT data services.
//!
//! Data flows one way: [`config`] → [`schedule`] → [`sources`] (client → model → translate) →
//! [`snapshot`] → [`store`] → [`expose`] → [`http`].

pub mod base;
pub mod check;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod expose;
pub mod http;
pub mod schedule;
pub mod sim;
pub mod snapshot;
pub mod sources;
pub mod store;
pub mod telemetry;
pub mod upstream;

#[cfg(test)]
mod architecture_tests;
