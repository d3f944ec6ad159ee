//! SAP BTP Cloud Connector source: every monitoring API, aware of high availability.
//!
//! Every `/api/monitoring/*` API is served by the master instance only. The `master_role`
//! endpoint records the instance's role in the target; while it is a shadow, master-only
//! endpoints are skipped without calling upstream (their series disappear, their poll state
//! says skipped). When the role is not known yet (or is older than [`ROLE_MAX_AGE`]), a
//! master-only endpoint checks it first with one `hasMasterRole` request.

pub mod client;
pub mod config;
pub mod model;
pub mod translate;

pub use config::{FileConfig, Settings};

use super::{BuildContext, Endpoint, EndpointInfo, PollContext, PollOutcome, Source};
use crate::base::{ErrorReason, PollError};
use crate::snapshot::Snapshot;
use crate::upstream::decode_json;
use client::Client;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A JSON monitoring API: its table row reads `path`, decodes with `parse` and, with
/// `master_only`, is skipped on a shadow instance.
macro_rules! json_api {
    ($info:expr, $path:literal, $parse:path) => {
        $info
            .parse($parse)
            .poll(|scc: &Scc, ctx| Box::pin(scc.json(ctx, $path, $info.gates.master_only, $parse)))
    };
}

impl Source for Scc {
    const KIND: &'static str = "scc";
    type FileConfig = FileConfig;
    type Settings = Settings;

    /// SCC samples memory and CPU every 15 s and its APIs run in the JVM that carries the
    /// tunnel traffic, so nothing polls faster than 30 s; slowly changing data (certificates,
    /// version) hourly.
    const ENDPOINTS: &'static [Endpoint<Scc>] = &[
        EndpointInfo::every("health", 30, "GET /exposed?action=ping (no credentials)")
            .poll(|scc: &Scc, _| Box::pin(async { Ok(PollOutcome::Data(scc.health().await)) })),
        EndpointInfo::every(
            "master_role",
            30,
            "GET /exposed?action=hasMasterRole (no credentials); gates the master-only APIs",
        )
        .poll(|scc: &Scc, _| Box::pin(scc.poll_master_role())),
        json_api!(
            EndpointInfo::every("subaccounts", 60, "GET /api/monitoring/subaccounts").master_only(),
            "/api/monitoring/subaccounts",
            parse::subaccounts
        ),
        json_api!(
            EndpointInfo::every(
                "backend_connections",
                60,
                "GET /api/monitoring/connections/backends"
            )
            .master_only(),
            "/api/monitoring/connections/backends",
            parse::backend_connections
        ),
        json_api!(
            EndpointInfo::every(
                "service_channel_connections",
                60,
                "GET /api/monitoring/connections/serviceChannels"
            )
            .master_only(),
            "/api/monitoring/connections/serviceChannels",
            parse::service_channel_connections
        ),
        json_api!(
            EndpointInfo::every(
                "backend_performance",
                60,
                "GET /api/monitoring/performance/backends"
            )
            .master_only(),
            "/api/monitoring/performance/backends",
            parse::backend_performance
        ),
        EndpointInfo::every(
            "top_time_consumers",
            300,
            "GET /api/monitoring/performance/topTimeConsumers",
        )
        .master_only()
        .parse(parse::top_time_consumers_with_user)
        .poll(|scc: &Scc, ctx| {
            let parse = if scc.include_user {
                parse::top_time_consumers_with_user
            } else {
                parse::top_time_consumers
            };
            Box::pin(scc.json(
                ctx,
                "/api/monitoring/performance/topTimeConsumers",
                true,
                parse,
            ))
        }),
        json_api!(
            EndpointInfo::every("memory", 60, "GET /api/monitoring/memory").master_only(),
            "/api/monitoring/memory",
            parse::memory
        ),
        json_api!(
            EndpointInfo::every("certificates", 3600, "GET /api/monitoring/certificates")
                .master_only(),
            "/api/monitoring/certificates",
            parse::certificates
        ),
        json_api!(
            EndpointInfo::off(
                "certificates_expired",
                "GET /api/monitoring/certificates/expired"
            )
            .master_only(),
            "/api/monitoring/certificates/expired",
            parse::certificates_expired
        ),
        json_api!(
            EndpointInfo::off(
                "certificates_expiring",
                "GET /api/monitoring/certificates/expiring"
            )
            .master_only(),
            "/api/monitoring/certificates/expiring",
            parse::certificates_expiring
        ),
        json_api!(
            EndpointInfo::off("certificates_ok", "GET /api/monitoring/certificates/ok")
                .master_only(),
            "/api/monitoring/certificates/ok",
            parse::certificates_ok
        ),
        json_api!(
            EndpointInfo::every("usage", 300, "GET /api/monitoring/usage").master_only(),
            "/api/monitoring/usage",
            parse::usage
        ),
        json_api!(
            EndpointInfo::every("disk", 300, "GET /api/monitoring/disk (SCC 2.17+)")
                .master_only()
                .since(2, 17),
            "/api/monitoring/disk",
            parse::disk
        ),
        json_api!(
            EndpointInfo::every("cpu", 60, "GET /api/monitoring/cpu (SCC 2.17+)")
                .master_only()
                .since(2, 17),
            "/api/monitoring/cpu",
            parse::cpu
        ),
        json_api!(
            EndpointInfo::every("alerts", 60, "GET /api/monitoring/alerts (SCC 2.19+)")
                .master_only()
                .since(2, 19),
            "/api/monitoring/alerts",
            parse::alerts
        ),
        json_api!(
            EndpointInfo::every("version", 3600, "GET /api/v1/connector/version"),
            "/api/v1/connector/version",
            parse::version
        ),
    ];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Scc {
        Scc {
            client: Client::new(
                ctx.upstream,
                settings.url.as_str(),
                settings.username.clone(),
                settings.password.clone(),
            ),
            include_user: settings.include_user,
            role: Mutex::new(RoleState::default()),
            role_check: tokio::sync::Mutex::new(()),
        }
    }
}

/// The body parsers of the JSON APIs: decode → model → translation, without HTTP.
pub mod parse {
    use super::*;

    macro_rules! parsers {
        ($($name:ident => |$payload:ident| $translate:expr;)*) => {
            $(
                #[doc = concat!("Parses the body of `", stringify!($name), "`.")]
                pub fn $name(body: &[u8], _ctx: &PollContext) -> Result<Snapshot, PollError> {
                    let $payload = decode_json(body)?;
                    Ok($translate)
                }
            )*
        };
    }

    parsers! {
        subaccounts => |p| translate::subaccounts(&p);
        backend_connections => |p| translate::backend_connections(&p);
        service_channel_connections => |p| translate::service_channel_connections(&p);
        backend_performance => |p| translate::backend_performance(&p);
        top_time_consumers => |p| translate::top_time_consumers(&p, false);
        top_time_consumers_with_user => |p| translate::top_time_consumers(&p, true);
        memory => |p| translate::memory(&p);
        certificates => |p| translate::certificates(&p);
        certificates_expired => |p| translate::certificate_selection("expired", &p);
        certificates_expiring => |p| translate::certificate_selection("expiring", &p);
        certificates_ok => |p| translate::certificate_selection("ok", &p);
        usage => |p| translate::usage(&p);
        disk => |p| translate::disk(model::disk_block(&p).as_ref());
        cpu => |p| translate::cpu(model::cpu_block(&p).as_ref());
        alerts => |p| translate::alerts(&p);
        version => |p| translate::version(&p);
    }
}

/// Path of the health check.
pub const PING_PATH: &str = "/exposed?action=ping";
/// Path of the master role check.
pub const MASTER_ROLE_PATH: &str = "/exposed?action=hasMasterRole";

/// A known master/shadow answer is trusted this long without a new check by master-only
/// endpoints (the `master_role` endpoint normally refreshes it much more often).
pub const ROLE_MAX_AGE: Duration = Duration::from_secs(300);

/// The message of a poll skipped on a shadow instance.
pub const SHADOW_SKIP: &str = "instance is not master (shadow)";

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
            Err(e) if e.reason == ErrorReason::Unsupported || e.http_status == Some(404) => {
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

    /// A JSON API: skipped on a shadow when master-only, else fetched and parsed.
    async fn json(
        &self,
        ctx: &PollContext,
        path: &'static str,
        master_only: bool,
        parse: super::ParseFn,
    ) -> Result<PollOutcome, PollError> {
        if master_only && self.current_role().await? == Role::Shadow {
            return Ok(PollOutcome::Skipped(SHADOW_SKIP.into()));
        }
        let what = format!("GET {path}");
        let response = self.client.get(path, true).await?;
        client::check_json_body(&response, &what)?;
        parse(&response.body, ctx)
            .map(PollOutcome::Data)
            .map_err(|e| e.context(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_marks_master_only_apis_and_parses_every_json_api() {
        for endpoint in Scc::ENDPOINTS {
            let info = &endpoint.info;
            assert_eq!(
                info.gates.master_only,
                info.description.starts_with("GET /api/monitoring/"),
                "{}",
                info.name
            );
            let exposed = info.description.starts_with("GET /exposed");
            assert_eq!(info.parse.is_none(), exposed, "{}", info.name);
        }
        let off: Vec<_> = Scc::ENDPOINTS
            .iter()
            .filter(|e| e.info.default_interval.is_none())
            .map(|e| e.info.name)
            .collect();
        assert_eq!(
            off,
            [
                "certificates_expired",
                "certificates_expiring",
                "certificates_ok"
            ]
        );
        assert!(Scc::ENDPOINTS
            .iter()
            .filter_map(|e| e.info.default_interval)
            .all(|d| d >= Duration::from_secs(30)));
    }
}
