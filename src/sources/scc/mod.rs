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
use crate::state::StateSlot;
use crate::upstream::decode_json;
use client::Client;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A JSON API: its table row reads `path` and decodes with `parse`, subject to the row's gates
/// (not called when the version lacks it; skipped on a shadow when master-only).
macro_rules! json_api {
    ($info:expr, $path:literal, $parse:path) => {
        $info
            .parse($parse)
            .poll(|scc: &Scc, ctx| Box::pin(scc.json(ctx, $path, $info.gates, $parse)))
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
        .since(2, 15)
        .poll(|scc: &Scc, ctx| Box::pin(scc.poll_master_role(ctx))),
        json_api!(
            EndpointInfo::every("subaccounts", 60, "GET /api/monitoring/subaccounts")
                .master_only()
                .since(2, 10),
            "/api/monitoring/subaccounts",
            parse::subaccounts
        ),
        json_api!(
            EndpointInfo::every(
                "backend_connections",
                60,
                "GET /api/monitoring/connections/backends"
            )
            .master_only()
            .since(2, 10),
            "/api/monitoring/connections/backends",
            parse::backend_connections
        ),
        json_api!(
            EndpointInfo::every(
                "service_channel_connections",
                60,
                "GET /api/monitoring/connections/serviceChannels"
            )
            .master_only()
            .since(2, 15),
            "/api/monitoring/connections/serviceChannels",
            parse::service_channel_connections
        ),
        json_api!(
            EndpointInfo::every(
                "backend_performance",
                60,
                "GET /api/monitoring/performance/backends"
            )
            .master_only()
            .since(2, 10),
            "/api/monitoring/performance/backends",
            parse::backend_performance
        ),
        EndpointInfo::every(
            "top_time_consumers",
            300,
            "GET /api/monitoring/performance/topTimeConsumers",
        )
        .master_only()
        .since(2, 11)
        .parse(parse::top_time_consumers_with_user)
        .poll(|scc: &Scc, ctx| {
            let parse = if scc.include_user {
                parse::top_time_consumers_with_user
            } else {
                parse::top_time_consumers
            };
            let gates = Scc::ENDPOINTS[TOP_TIME_CONSUMERS].info.gates;
            Box::pin(scc.json(
                ctx,
                "/api/monitoring/performance/topTimeConsumers",
                gates,
                parse,
            ))
        }),
        json_api!(
            EndpointInfo::every("memory", 60, "GET /api/monitoring/memory")
                .master_only()
                .since(2, 13),
            "/api/monitoring/memory",
            parse::memory
        ),
        json_api!(
            EndpointInfo::every("certificates", 3600, "GET /api/monitoring/certificates")
                .master_only()
                .since(2, 13),
            "/api/monitoring/certificates",
            parse::certificates
        ),
        json_api!(
            EndpointInfo::off(
                "certificates_expired",
                "GET /api/monitoring/certificates/expired"
            )
            .master_only()
            .since(2, 13),
            "/api/monitoring/certificates/expired",
            parse::certificates_expired
        ),
        json_api!(
            EndpointInfo::off(
                "certificates_expiring",
                "GET /api/monitoring/certificates/expiring"
            )
            .master_only()
            .since(2, 13),
            "/api/monitoring/certificates/expiring",
            parse::certificates_expiring
        ),
        json_api!(
            EndpointInfo::off("certificates_ok", "GET /api/monitoring/certificates/ok")
                .master_only()
                .since(2, 13),
            "/api/monitoring/certificates/ok",
            parse::certificates_ok
        ),
        json_api!(
            EndpointInfo::every("usage", 300, "GET /api/monitoring/usage")
                .master_only()
                .since(2, 13),
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
        EndpointInfo::every("version", 3600, "GET /api/v1/connector/version")
            .since(2, 14)
            .parse(parse::version)
            .poll(|scc: &Scc, ctx| Box::pin(scc.poll_version(ctx))),
    ];

    fn validate(file: &FileConfig) -> Result<Settings, Vec<(String, String)>> {
        config::validate(file)
    }

    fn build(settings: &Settings, ctx: BuildContext) -> Scc {
        let role_state = ctx.state.slot(format!(
            "scc/{}/role_changes/{}",
            ctx.upstream.target(),
            settings.url
        ));
        let mut ha = HaState::default();
        if let Some(saved) = role_state.load::<SavedRole>() {
            ha.changes = saved.changes;
            ha.changes_since = Some(saved.since);
            ha.was_master = Some(saved.master);
        }
        Scc {
            client: Client::new(
                ctx.upstream,
                settings.url.as_str(),
                settings.username.clone(),
                settings.password.clone(),
            ),
            include_user: settings.include_user,
            ha_group: settings.ha_group.clone(),
            state: Mutex::new(ha),
            role_check: tokio::sync::Mutex::new(()),
            version_check: tokio::sync::Mutex::new(()),
            wake: tokio::sync::watch::channel(0).0,
            role_state,
        }
    }

    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.wake.subscribe())
    }
}

/// Position of `top_time_consumers` in [`Scc::ENDPOINTS`] (its poll reads its own gates).
const TOP_TIME_CONSUMERS: usize = 6;

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
/// Path of the version API (2.14+, Monitoring role allowed).
pub const VERSION_PATH: &str = "/api/v1/connector/version";

/// A known master/shadow answer is trusted this long without a new check by master-only
/// endpoints (the `master_role` endpoint normally refreshes it much more often).
pub const ROLE_MAX_AGE: Duration = Duration::from_secs(300);

/// The message of a poll skipped on a shadow instance.
pub const SHADOW_SKIP: &str = "instance is not master (shadow)";

/// How long a failed role check is trusted to stay failed: master-only polls meanwhile use the
/// last known role instead of each waiting for a hanging `hasMasterRole`.
pub const ROLE_RETRY: Duration = Duration::from_secs(30);

/// How long a known version is trusted before a gated endpoint asks again (an upgrade restarts
/// the instance, which the health check notices sooner).
pub const VERSION_MAX_AGE: Duration = Duration::from_secs(600);

/// What the instance said about its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `hasMasterRole` = true.
    Master,
    /// `hasMasterRole` = false.
    Shadow,
    /// The instance does not offer `hasMasterRole` (SCC before 2.15): no HA, a single master.
    NoHaApi,
}

impl Role {
    /// Whether the instance serves the master-only APIs.
    pub fn is_master(self) -> bool {
        !matches!(self, Role::Shadow)
    }
}

/// A Cloud Connector version as (major, minor), e.g. (2, 17) for "2.17.1.3".
pub type Version = (u16, u16);

/// The version that introduced `hasMasterRole` (and HA monitoring with it).
pub const HA_API_SINCE: Version = (2, 15);

/// Parses "2.17.1.3" (or "2.17") into (2, 17).
pub fn parse_version(text: &str) -> Option<Version> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next()?.trim().parse().ok()?;
    Some((major, minor))
}

#[derive(Debug, Default)]
struct HaState {
    /// The last answered role and when.
    role: Option<(Role, Instant)>,
    /// When the last role check failed (timeout, garbage).
    role_failed: Option<Instant>,
    /// Role changes seen, and since when they are counted (Unix seconds).
    changes: u64,
    changes_since: Option<f64>,
    /// Whether the instance was master when the role was last recorded (restored from the
    /// state slot after a restart, so a failover during the downtime still counts).
    was_master: Option<bool>,
    /// The version as last asked: `Some(None)` when the version API is not offered.
    version: Option<(Option<Version>, Instant)>,
    /// The last health answer, to notice a restart (a possible upgrade).
    up: Option<bool>,
    /// APIs a confirmed master answered 400 for while its version was unknown: not called
    /// again until the instance restarts or changes version, or an hour has passed.
    lacking: std::collections::HashMap<&'static str, (String, Instant)>,
}

/// How long an API a confirmed master lacks (with its version unknown) is not called again.
pub const LACKING_RETRY: Duration = Duration::from_secs(3600);

/// One configured Cloud Connector.
pub struct Scc {
    client: Client,
    include_user: bool,
    ha_group: Option<String>,
    state: Mutex<HaState>,
    /// Serialises role checks so concurrent first polls make one request, not one each.
    role_check: tokio::sync::Mutex<()>,
    /// Serialises version checks likewise.
    version_check: tokio::sync::Mutex<()>,
    /// Bumped when the instance turns master or its version changes: every endpoint polls now.
    wake: tokio::sync::watch::Sender<u64>,
    /// Where the role-change counter survives reloads and restarts.
    role_state: StateSlot,
}

/// The role-change counter as its state slot keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct SavedRole {
    changes: u64,
    since: f64,
    master: bool,
}

fn unix(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Scc {
    fn state(&self) -> std::sync::MutexGuard<'_, HaState> {
        self.state.lock().expect("scc state lock")
    }

    /// The last known role, if fresh enough.
    pub fn known_role(&self) -> Option<Role> {
        self.state()
            .role
            .filter(|(_, at)| at.elapsed() < ROLE_MAX_AGE)
            .map(|(r, _)| r)
    }

    /// Every endpoint polls now; what was learnt about missing APIs is asked again.
    fn wake_all(&self) {
        self.state().lacking.clear();
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records an answered role: a change between master and shadow is counted, logged once,
    /// and wakes every endpoint, so master-only data is back at once on a new master and gone at
    /// once from a new shadow.
    fn record_role(&self, role: Role, now: f64) {
        let woke = {
            let mut state = self.state();
            let first = state.changes_since.is_none();
            let was_master = state.was_master;
            state.role = Some((role, Instant::now()));
            state.role_failed = None;
            state.was_master = Some(role.is_master());
            let since = *state.changes_since.get_or_insert(now);
            let changed = was_master.is_some_and(|m| m != role.is_master());
            if changed {
                state.changes += 1;
                tracing::info!(
                    target = self.client.target(),
                    to = ?role,
                    "scc master role changed"
                );
            }
            if changed || first {
                self.role_state.save(&SavedRole {
                    changes: state.changes,
                    since,
                    master: role.is_master(),
                });
            }
            changed
        };
        if woke {
            self.wake_all();
        }
    }

    /// Asks the instance for its role. A version without the HA API (400, 404, or an empty or
    /// HTML page with 200) is a single master; timeouts and other answers are errors.
    async fn ask_role(&self, now: f64) -> Result<Role, PollError> {
        // A version known to predate the HA API is a single master: nothing to ask.
        let cached = self.state().version.and_then(|(v, _)| v);
        if cached.is_some_and(|v| v < HA_API_SINCE) {
            self.record_role(Role::NoHaApi, now);
            return Ok(Role::NoHaApi);
        }
        let what = format!("GET {MASTER_ROLE_PATH}");
        let role = match self.client.get(MASTER_ROLE_PATH, false).await {
            Ok(response) => {
                let body = String::from_utf8_lossy(&response.body);
                if response.is_html() || body.trim().is_empty() {
                    Role::NoHaApi
                } else {
                    match model::parse_master_role(&body) {
                        Some(true) => Role::Master,
                        Some(false) => Role::Shadow,
                        None => {
                            self.state().role_failed = Some(Instant::now());
                            return Err(PollError::decode(format!(
                                "{what}: expected true or false, got {:?}",
                                response.excerpt(80)
                            )));
                        }
                    }
                }
            }
            Err(e) if matches!(e.http_status, Some(400 | 404)) => Role::NoHaApi,
            Err(e) => {
                self.state().role_failed = Some(Instant::now());
                return Err(e);
            }
        };
        self.record_role(role, now);
        Ok(role)
    }

    /// The role for gating master-only endpoints: the known one, else one fresh check; when the
    /// check fails, the last known role (master when none is known), so an unanswered
    /// `hasMasterRole` never blocks the data. A wrong guess is corrected by the shadow's answer.
    async fn gating_role(&self, now: f64) -> Role {
        let fallback = |state: &HaState| state.role.map(|(r, _)| r).unwrap_or(Role::Master);
        {
            let state = self.state();
            if let Some((role, at)) = state.role {
                if at.elapsed() < ROLE_MAX_AGE {
                    return role;
                }
            }
            if state
                .role_failed
                .is_some_and(|at| at.elapsed() < ROLE_RETRY)
            {
                return fallback(&state);
            }
        }
        let _guard = self.role_check.lock().await;
        if let Some(role) = self.known_role() {
            return role;
        }
        match self.ask_role(now).await {
            Ok(role) => role,
            Err(e) => {
                tracing::debug!(target = self.client.target(), error = %e, "scc role unknown; using the last known role");
                fallback(&self.state())
            }
        }
    }

    /// The instance's version, from the version API (asked at most every [`VERSION_MAX_AGE`]);
    /// `None` when it cannot be told.
    async fn known_version(&self) -> Option<Version> {
        if let Some((version, at)) = self.state().version {
            if at.elapsed() < VERSION_MAX_AGE {
                return version;
            }
        }
        let _guard = self.version_check.lock().await;
        if let Some((version, at)) = self.state().version {
            if at.elapsed() < VERSION_MAX_AGE {
                return version;
            }
        }
        match self.client.get(VERSION_PATH, true).await {
            Ok(response) => {
                let version = client::decode::<model::VersionPayload>(&response, VERSION_PATH)
                    .ok()
                    .and_then(|p| p.version)
                    .and_then(|v| parse_version(&v));
                self.record_version(version);
                version
            }
            // The version API came with 2.14: an older instance has none.
            Err(e) if matches!(e.http_status, Some(400 | 404)) => {
                self.record_version(None);
                None
            }
            Err(_) => self.state().version.and_then(|(v, _)| v),
        }
    }

    /// Records the version; a change (an upgrade or downgrade) wakes every endpoint, so the
    /// gates are evaluated again at once.
    fn record_version(&self, version: Option<Version>) {
        let changed = {
            let mut state = self.state();
            let previous = state.version.map(|(v, _)| v);
            state.version = Some((version, Instant::now()));
            previous.is_some_and(|p| p != version)
        };
        if changed {
            tracing::info!(target = self.client.target(), version = ?version, "scc version changed");
            self.wake_all();
        }
    }

    /// `ping`: any 2xx is up; anything else (status, timeout, refused) is down, with the poll
    /// itself succeeding because "down" is the answer. A version whose `/exposed` lacks the
    /// ping (400/404) is up when it answers at all.
    async fn health(&self) -> Snapshot {
        let up = match self.client.get(PING_PATH, false).await {
            Ok(_) => true,
            Err(e) if matches!(e.http_status, Some(400 | 404)) => true,
            Err(e) => {
                tracing::debug!(target = self.client.target(), error = %e, "scc health check failed");
                false
            }
        };
        let restarted = {
            let mut state = self.state();
            let restarted = state.up == Some(false) && up;
            state.up = Some(up);
            if restarted {
                // Back after being down: it may have been upgraded; ask version and role anew.
                state.version = None;
                if matches!(state.role, Some((Role::NoHaApi, _))) {
                    state.role = None;
                }
            }
            restarted
        };
        if restarted {
            self.wake_all();
        }
        translate::health(up, self.ha_group.as_deref())
    }

    async fn poll_master_role(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let now = unix(ctx.now);
        let no_ha_api = format!(
            "GET {MASTER_ROLE_PATH}: not offered by this Cloud Connector version (before 2.15); \
             the instance is treated as a single master"
        );
        // Known to lack the HA API: not asked again until the instance restarts or an hour passed.
        if matches!(self.state().role, Some((Role::NoHaApi, at)) if at.elapsed() < LACKING_RETRY) {
            return Ok(PollOutcome::Unsupported(no_ha_api));
        }
        let version = self.known_version().await;
        if version.is_some_and(|v| v < HA_API_SINCE) {
            self.record_role(Role::NoHaApi, now);
            return Ok(PollOutcome::Unsupported(format!(
                "GET {MASTER_ROLE_PATH}: {}; the instance is treated as a single master",
                self.not_offered(version, Some(HA_API_SINCE))
            )));
        }
        let role = {
            let _guard = self.role_check.lock().await;
            self.ask_role(now).await?
        };
        let (changes, since) = {
            let state = self.state();
            (state.changes, state.changes_since)
        };
        match role {
            Role::Master | Role::Shadow => Ok(PollOutcome::Data(translate::master_role(
                role == Role::Master,
                changes,
                since,
            ))),
            Role::NoHaApi => Ok(PollOutcome::Unsupported(no_ha_api)),
        }
    }

    /// The version API: its series, and the version it names for the gates of the others.
    async fn poll_version(&self, ctx: &PollContext) -> Result<PollOutcome, PollError> {
        let what = format!("GET {VERSION_PATH}");
        let lacking = format!("{what}: not offered by this Cloud Connector version (before 2.14)");
        if matches!(self.state().version, Some((None, at)) if at.elapsed() < LACKING_RETRY) {
            return Ok(PollOutcome::Unsupported(lacking));
        }
        match self.client.get(VERSION_PATH, true).await {
            Ok(response) => {
                let payload: model::VersionPayload = client::decode(&response, &what)?;
                self.record_version(payload.version.as_deref().and_then(parse_version));
                parse::version(&response.body, ctx).map(PollOutcome::Data)
            }
            Err(e) if matches!(e.http_status, Some(400 | 404)) => {
                self.record_version(None);
                Ok(PollOutcome::Unsupported(lacking))
            }
            Err(e) => Err(e),
        }
    }

    /// Why an endpoint is not offered, with the version when it is known.
    fn not_offered(&self, version: Option<Version>, since: Option<Version>) -> String {
        match (version, since) {
            (Some((major, minor)), Some((smajor, sminor))) => {
                format!("not offered by SCC {major}.{minor} (needs {smajor}.{sminor} or later)")
            }
            (Some((major, minor)), None) => format!("not offered by SCC {major}.{minor}"),
            (None, _) => "not offered by this Cloud Connector version".to_string(),
        }
    }

    /// A JSON API: not called when the version lacks it, skipped on a shadow when master-only,
    /// else fetched and parsed. A master-only API answering 400, 409 or not at all may mean
    /// the instance just turned shadow: the role is asked again at once before anything is
    /// reported; only a confirmed master answering 400 lacks the API.
    async fn json(
        &self,
        ctx: &PollContext,
        path: &'static str,
        gates: super::Gates,
        parse: super::ParseFn,
    ) -> Result<PollOutcome, PollError> {
        let now = unix(ctx.now);
        if let Some(since) = gates.since_version {
            let version = self.known_version().await;
            if version.is_some_and(|v| v < since) {
                return Ok(PollOutcome::Unsupported(
                    self.not_offered(version, Some(since)),
                ));
            }
        }
        if gates.master_only && !self.gating_role(now).await.is_master() {
            return Ok(PollOutcome::Skipped(SHADOW_SKIP.into()));
        }
        if let Some((why, at)) = self.state().lacking.get(path) {
            if at.elapsed() < LACKING_RETRY {
                return Ok(PollOutcome::Unsupported(why.clone()));
            }
        }
        let what = format!("GET {path}");
        let error = match self.client.get(path, true).await {
            Ok(response) => {
                client::check_json_body(&response, &what)?;
                return parse(&response.body, ctx)
                    .map(PollOutcome::Data)
                    .map_err(|e| e.context(what));
            }
            Err(e) => e,
        };
        let role_signal = gates.master_only
            && (matches!(error.http_status, Some(400 | 409))
                || error.reason == ErrorReason::Timeout);
        let confirmed_master = if !role_signal {
            !gates.master_only
        } else if self.known_role() == Some(Role::NoHaApi) {
            true // a single instance without the HA API is never a shadow
        } else {
            let _guard = self.role_check.lock().await;
            match self.ask_role(now).await {
                Ok(Role::Shadow) => return Ok(PollOutcome::Skipped(SHADOW_SKIP.into())),
                Ok(_) => true,
                Err(_) => false,
            }
        };
        if confirmed_master && error.http_status == Some(400) {
            // A known version may be out of date (an upgrade or downgrade): ask anew, for the
            // message and the gates. An instance without the version API is not asked again.
            {
                let mut state = self.state();
                if matches!(state.version, Some((Some(_), _))) {
                    state.version = None;
                }
            }
            let version = self.known_version().await;
            let why = format!(
                "{what}: {} ({})",
                self.not_offered(version, gates.since_version),
                error.message
            );
            self.state()
                .lacking
                .insert(path, (why.clone(), Instant::now()));
            return Ok(PollOutcome::Unsupported(why));
        }
        Err(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_time_consumers_knows_its_row_and_versions_parse() {
        assert_eq!(
            Scc::ENDPOINTS[TOP_TIME_CONSUMERS].info.name,
            "top_time_consumers"
        );
        assert_eq!(parse_version("2.17.1.3"), Some((2, 17)));
        assert_eq!(parse_version(" 2.9 "), Some((2, 9)));
        assert_eq!(parse_version("next"), None);
        assert!((2, 16) < (2, 17) && (2, 9) < (2, 10));
    }

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
