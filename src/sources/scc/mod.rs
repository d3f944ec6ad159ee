//! SAP BTP Cloud Connector source (being implemented).

use super::{BuildContext, EndpointSpec, Target};
use crate::config::SccTarget;
use std::sync::Arc;

/// Endpoints of this source with their default intervals.
pub const ENDPOINTS: &[EndpointSpec] = &[
    EndpointSpec::every("health", 30, "ping"),
    EndpointSpec::every("master_role", 30, "hasMasterRole"),
    EndpointSpec::every("subaccounts", 60, "subaccounts and tunnels"),
    EndpointSpec::every("backend_connections", 60, "connections/backends"),
    EndpointSpec::every(
        "service_channel_connections",
        60,
        "connections/serviceChannels",
    ),
    EndpointSpec::every("backend_performance", 60, "performance/backends"),
    EndpointSpec::every("top_time_consumers", 300, "performance/topTimeConsumers"),
    EndpointSpec::every("memory", 60, "memory"),
    EndpointSpec::every("certificates", 3600, "certificates"),
    EndpointSpec::off("certificates_expired", "certificates/expired"),
    EndpointSpec::off("certificates_expiring", "certificates/expiring"),
    EndpointSpec::off("certificates_ok", "certificates/ok"),
    EndpointSpec::every("usage", 300, "usage"),
    EndpointSpec::every("disk", 300, "disk"),
    EndpointSpec::every("cpu", 60, "cpu"),
    EndpointSpec::every("alerts", 60, "alerts"),
    EndpointSpec::every("version", 3600, "connector version"),
];

/// Builds a target from its config.
pub fn build(_config: &SccTarget, _ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    Err("the scc source is not implemented in this build yet".into())
}
