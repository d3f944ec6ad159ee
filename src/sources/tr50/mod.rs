//! TR50 (Telit deviceWISE) source (being implemented).

use super::{BuildContext, EndpointSpec, Target};
use crate::config::Tr50Target;
use std::sync::Arc;

/// Endpoints of this source with their default intervals.
pub const ENDPOINTS: &[EndpointSpec] = &[
    EndpointSpec::every("api_history", 300, "usage.api.history"),
    EndpointSpec::off("thing_history", "usage.thing.history"),
    EndpointSpec::off("connection_history", "usage.connection.history"),
];

/// Builds a target from its config.
pub fn build(_config: &Tr50Target, _ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    Err("the tr50 source is not implemented in this build yet".into())
}
