//! Akana API Platform source (being implemented).

use super::{BuildContext, EndpointSpec, Target};
use crate::config::AkanaTarget;
use std::sync::Arc;

/// Endpoints of this source with their default intervals.
pub const ENDPOINTS: &[EndpointSpec] =
    &[EndpointSpec::every("metrics", 300, "subscription metrics")];

/// Builds a target from its config.
pub fn build(_config: &AkanaTarget, _ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    Err("the akana source is not implemented in this build yet".into())
}
