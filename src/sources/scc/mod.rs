//! SAP BTP Cloud Connector source: every monitoring API, aware of high availability.
//!
//! Every `/api/monitoring/*` API is served by the master instance only. The `master_role`
//! endpoint records the instance's role in the target; while it is a shadow, master-only
//! endpoints are skipped without calling upstream (their series disappear, their poll state
//! says skipped). When the role is not known yet (or is older than [`ROLE_MAX_AGE`]), a
//! master-only endpoint checks it first with one `hasMasterRole` request.

pub mod client;
pub mod model;
pub mod translate;

use super::{BuildContext, EndpointSpec, ErrorReason, PollContext, PollError, PollFuture};
use super::{PollOutcome, Target};
use crate::config::SccTarget;
use crate::snapshot::Snapshot;
use client::Client;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Endpoints of this source with their default intervals. SCC samples memory and CPU every
/// 15 s and its APIs run in the JVM that carries the tunnel traffic, so nothing polls faster
/// than 30 s; slowly changing data (certificates, version) hourly.
pub const ENDPOINTS: &[EndpointSpec] = &[
    EndpointSpec::every("health", 30, "GET /exposed?action=ping (no credentials)"),
    EndpointSpec::every(
        "master_role",
        30,
        "GET /exposed?action=hasMasterRole (no credentials); gates the master-only APIs",
    ),
    EndpointSpec::every("subaccounts", 60, "GET /api/monitoring/subaccounts"),
    EndpointSpec::every(
        "backend_connections",
        60,
        "GET /api/monitoring/connections/backends",
    ),
    EndpointSpec::every(
        "service_channel_connections",
        60,
        "GET /api/monitoring/connections/serviceChannels",
    ),
    EndpointSpec::every(
        "backend_performance",
        60,
        "GET /api/monitoring/performance/backends",
    ),
    EndpointSpec::every(
        "top_time_consumers",
        300,
        "GET /api/monitoring/performance/topTimeConsumers",
    ),
    EndpointSpec::every("memory", 60, "GET /api/monitoring/memory"),
    EndpointSpec::every("certificates", 3600, "GET /api/monitoring/certificates"),
    EndpointSpec::off(
        "certificates_expired",
        "GET /api/monitoring/certificates/expired",
    ),
    EndpointSpec::off(
        "certificates_expiring",
        "GET /api/monitoring/certificates/expiring",
    ),
    EndpointSpec::off("certificates_ok", "GET /api/monitoring/certificates/ok"),
    EndpointSpec::every("usage", 300, "GET /api/monitoring/usage"),
    EndpointSpec::every("disk", 300, "GET /api/monitoring/disk (SCC 2.17+)"),
    EndpointSpec::every("cpu", 60, "GET /api/monitoring/cpu (SCC 2.17+)"),
    EndpointSpec::every("alerts", 60, "GET /api/monitoring/alerts (SCC 2.19+)"),
    EndpointSpec::every("version", 3600, "GET /api/v1/connector/version"),
];

/// Path of the health check.
pub const PING_PATH: &str = "/exposed?action=ping";
/// Path of the master role check.
pub const MASTER_ROLE_PATH: &str = "/exposed?action=hasMasterRole";

/// A known master/shadow answer is trusted this long without a new check by master-only
/// endpoints (the `master_role` endpoint normally refreshes it much more often).
pub const ROLE_MAX_AGE: Duration = Duration::from_secs(300);

/// The message of a poll skipped on a shadow instance.
pub const SHADOW_SKIP: &str = "instance is not master (shadow)";

/// The upstream path of a JSON endpoint and whether only the master instance serves it.
pub fn api_path(endpoint: &str) -> Option<(&'static str, bool)> {
    Some(match endpoint {
        "subaccounts" => ("/api/monitoring/subaccounts", true),
        "backend_connections" => ("/api/monitoring/connections/backends", true),
        "service_channel_connections" => ("/api/monitoring/connections/serviceChannels", true),
        "backend_performance" => ("/api/monitoring/performance/backends", true),
        "top_time_consumers" => ("/api/monitoring/performance/topTimeConsumers", true),
        "memory" => ("/api/monitoring/memory", true),
        "certificates" => ("/api/monitoring/certificates", true),
        "certificates_expired" => ("/api/monitoring/certificates/expired", true),
        "certificates_expiring" => ("/api/monitoring/certificates/expiring", true),
        "certificates_ok" => ("/api/monitoring/certificates/ok", true),
        "usage" => ("/api/monitoring/usage", true),
        "disk" => ("/api/monitoring/disk", true),
        "cpu" => ("/api/monitoring/cpu", true),
        "alerts" => ("/api/monitoring/alerts", true),
        "version" => ("/api/v1/connector/version", false),
        _ => return None,
    })
}

/// What the instance said about its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `hasMasterRole` = true.
    Master,
    /// `hasMasterRole` = false.
    Shadow,
    /// The instance does not offer `hasMasterRole` (SCC before 2.15): no HA, treated as master.
    NoHaApi,
}

#[derive(Debug, Default)]
struct RoleState {
    role: Option<(Role, Instant)>,
}

/// One configured Cloud Connector.
pub struct Scc {
    client: Client,
    include_user: bool,
    role: Mutex<RoleState>,
    /// Serialises role checks so concurrent first polls make one request, not one each.
    role_check: tokio::sync::Mutex<()>,
}

/// Builds a target from its config.
pub fn build(config: &SccTarget, ctx: BuildContext) -> Result<Arc<dyn Target>, String> {
    let url = config
        .url
        .as_deref()
        .ok_or_else(|| "url: missing; set the Cloud Connector base URL".to_string())?;
    let client = Client::new(
        ctx.upstream,
        url,
        config.username.clone(),
        config.password.clone(),
    );
    Ok(Arc::new(Scc {
        client,
        include_user: config.include_user,
        role: Mutex::new(RoleState::default()),
        role_check: tokio::sync::Mutex::new(()),
    }))
}

impl Target for Scc {
    fn poll<'a>(&'a self, endpoint: &'a str, ctx: &'a PollContext) -> PollFuture<'a> {
        Box::pin(self.poll_endpoint(endpoint, ctx))
    }
}

impl Scc {
    /// The last known role, if fresh enough.
    pub fn known_role(&self) -> Option<Role> {
        let state = self.role.lock().expect("role lock");
        state
            .role
            .filter(|(_, at)| at.elapsed() < ROLE_MAX_AGE)
            .map(|(r, _)| r)
    }

    fn set_role(&self, role: Role) {
        self.role.lock().expect("role lock").role = Some((role, Instant::now()));
    }

    async fn poll_endpoint(
        &self,
        endpoint: &str,
        _ctx: &PollContext,
    ) -> Result<PollOutcome, PollError> {
        match endpoint {
            "health" => Ok(PollOutcome::Data(self.health().await)),
            "master_role" => self.poll_master_role().await,
            other => {
                let (path, master_only) = api_path(other).ok_or_else(|| {
                    PollError::new(
                        ErrorReason::Unsupported,
                        format!("unknown scc endpoint {other:?}"),
                    )
                })?;
                if master_only && self.current_role().await? == Role::Shadow {
                    return Ok(PollOutcome::Skipped(SHADOW_SKIP.into()));
                }
                self.fetch(other, path).await.map(PollOutcome::Data)
            }
        }
    }

    /// `ping`: any 2xx is up; anything else (status, timeout, refused) is down, with the poll
    /// itself succeeding because "down" is the answer.
    async fn health(&self) -> Snapshot {
        match self.client.get(PING_PATH, false).await {
            Ok(_) => translate::health(true),
            Err(e) => {
                tracing::debug!(target = self.client.target(), error = %e, "scc health check failed");
                translate::health(false)
            }
        }
    }

    /// Asks the instance for its role and records the answer.
    async fn check_role(&self) -> Result<Role, PollError> {
        let what = format!("GET {MASTER_ROLE_PATH}");
        let role = match self.client.get(MASTER_ROLE_PATH, false).await {
            Ok(response) => {
                if response.is_html() {
                    return Err(PollError::auth(format!(
                        "{what}: answered with an HTML page instead of true/false; check the URL and any proxy in front of the Cloud Connector"
                    )));
                }
                let body = String::from_utf8_lossy(&response.body);
                match model::parse_master_role(&body) {
                    Some(true) => Role::Master,
                    Some(false) => Role::Shadow,
                    None => {
                        return Err(PollError::decode(format!(
                            "{what}: expected true or false, got {:?}",
                            response.excerpt(80)
                        )))
                    }
                }
            }
            Err(e) if e.reason == ErrorReason::Unsupported || e.message.contains("HTTP 404") => {
                Role::NoHaApi
            }
            Err(e) => return Err(e),
        };
        self.set_role(role);
        Ok(role)
    }

    /// The role for gating master-only endpoints: the known one, or one fresh check.
    async fn current_role(&self) -> Result<Role, PollError> {
        if let Some(role) = self.known_role() {
            return Ok(role);
        }
        let _guard = self.role_check.lock().await;
        if let Some(role) = self.known_role() {
            return Ok(role);
        }
        self.check_role()
            .await
            .map_err(|e| e.context("checking the master role before a master-only API"))
    }

    async fn poll_master_role(&self) -> Result<PollOutcome, PollError> {
        match self.check_role().await? {
            Role::Master => Ok(PollOutcome::Data(translate::master_role(true))),
            Role::Shadow => Ok(PollOutcome::Data(translate::master_role(false))),
            Role::NoHaApi => Err(PollError::new(
                ErrorReason::Unsupported,
                format!(
                    "GET {MASTER_ROLE_PATH}: not offered by this Cloud Connector version (before 2.15); \
                     the instance is treated as master; switch master_role off to stop trying"
                ),
            )
            .retry_after(client::UNSUPPORTED_RETRY)),
        }
    }

    async fn fetch(&self, endpoint: &str, path: &str) -> Result<Snapshot, PollError> {
        let c = &self.client;
        Ok(match endpoint {
            "subaccounts" => translate::subaccounts(&c.get_json(path).await?),
            "backend_connections" => translate::backend_connections(&c.get_json(path).await?),
            "service_channel_connections" => {
                translate::service_channel_connections(&c.get_json(path).await?)
            }
            "backend_performance" => translate::backend_performance(&c.get_json(path).await?),
            "top_time_consumers" => {
                translate::top_time_consumers(&c.get_json(path).await?, self.include_user)
            }
            "memory" => translate::memory(&c.get_json(path).await?),
            "certificates" => translate::certificates(&c.get_json(path).await?),
            "certificates_expired" => {
                translate::certificate_selection("expired", &c.get_json(path).await?)
            }
            "certificates_expiring" => {
                translate::certificate_selection("expiring", &c.get_json(path).await?)
            }
            "certificates_ok" => translate::certificate_selection("ok", &c.get_json(path).await?),
            "usage" => translate::usage(&c.get_json(path).await?),
            "disk" => {
                let v: serde_json::Value = c.get_json(path).await?;
                translate::disk(model::disk_block(&v).as_ref())
            }
            "cpu" => {
                let v: serde_json::Value = c.get_json(path).await?;
                translate::cpu(model::cpu_block(&v).as_ref())
            }
            "alerts" => translate::alerts(&c.get_json(path).await?),
            "version" => translate::version(&c.get_json(path).await?),
            other => {
                return Err(PollError::new(
                    ErrorReason::Unsupported,
                    format!("unknown scc endpoint {other:?}"),
                ))
            }
        })
    }
}

/// Byte-level entry point of the JSON endpoints' parsers, for property tests and fuzzing: the
/// decode → model → translation path of one endpoint's response body, without HTTP (the same
/// dispatch as `Scc::fetch`).
pub fn parse_endpoint(
    endpoint: &str,
    body: &[u8],
    include_user: bool,
) -> Result<Snapshot, PollError> {
    use crate::upstream::decode_json as json;
    Ok(match endpoint {
        "subaccounts" => translate::subaccounts(&json(body)?),
        "backend_connections" => translate::backend_connections(&json(body)?),
        "service_channel_connections" => translate::service_channel_connections(&json(body)?),
        "backend_performance" => translate::backend_performance(&json(body)?),
        "top_time_consumers" => translate::top_time_consumers(&json(body)?, include_user),
        "memory" => translate::memory(&json(body)?),
        "certificates" => translate::certificates(&json(body)?),
        "certificates_expired" => translate::certificate_selection("expired", &json(body)?),
        "certificates_expiring" => translate::certificate_selection("expiring", &json(body)?),
        "certificates_ok" => translate::certificate_selection("ok", &json(body)?),
        "usage" => translate::usage(&json(body)?),
        "disk" => translate::disk(model::disk_block(&json(body)?).as_ref()),
        "cpu" => translate::cpu(model::cpu_block(&json(body)?).as_ref()),
        "alerts" => translate::alerts(&json(body)?),
        "version" => translate::version(&json(body)?),
        other => {
            return Err(PollError::new(
                ErrorReason::Unsupported,
                format!("unknown scc endpoint {other:?}"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_a_path_except_the_exposed_ones() {
        for spec in ENDPOINTS {
            match spec.name {
                "health" | "master_role" => assert!(api_path(spec.name).is_none()),
                name => {
                    let (path, master_only) = api_path(name).expect(name);
                    assert_eq!(master_only, path.starts_with("/api/monitoring/"), "{name}");
                }
            }
        }
        let off: Vec<_> = ENDPOINTS
            .iter()
            .filter(|e| e.default_interval.is_none())
            .map(|e| e.name)
            .collect();
        assert_eq!(
            off,
            [
                "certificates_expired",
                "certificates_expiring",
                "certificates_ok"
            ]
        );
        assert!(ENDPOINTS
            .iter()
            .filter_map(|e| e.default_interval)
            .all(|d| d >= Duration::from_secs(30)));
    }
}
