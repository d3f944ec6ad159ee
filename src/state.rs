//! What must survive a restart: counter accumulators, seen-bucket horizons, AVEVA per-cycle
//! high-water marks and TR50 login back-off.
//!
//! Sources keep such state in **slots**, one per (target, purpose), and save it after every poll
//! that changed it. The store always keeps the last saved value in memory, so a target rebuilt
//! by a reload continues where it was. With a state directory (`--storage.path`) every slot is
//! also a small file `<dir>/<slot>.json`, so a restart continues too:
//!
//! - **crash-safe**: a save writes `<file>.tmp`, fsyncs it, renames it over the file and fsyncs
//!   the directory, so a process killed at any moment leaves the previous or the new state, never
//!   a mix; a leftover `.tmp` is ignored;
//! - **versioned**: an envelope `{"format", "version", "slot", "data"}`; a file of another
//!   format, of a newer version, truncated or corrupt, or whose data no longer decodes, is
//!   reported once (a warning and `usage_exporter_state_load_errors_total{reason}`), renamed to
//!   `<file>.rejected` and the slot starts fresh: never a crash, never a wrong number;
//! - **one file per slot**: a save costs one small write whatever the number of targets, and a
//!   damaged file loses one slot only.
//!
//! Saving happens before the poll's snapshot is published, so what a scrape has seen is on disk:
//! a `SIGKILL` can lose the last poll's increments (counted again from the next window) but can
//! never make a counter go down. Slots hold counts and times only; secrets and session tokens
//! never go into the state.

use crate::snapshot::{Family, Labels};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The `format` field of every state file.
pub const FORMAT: &str = "usage_exporter state";

/// The state file format version this build writes and reads.
pub const VERSION: u32 = 1;

/// Why a state file was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoadError {
    /// The file could not be read (permissions, I/O).
    Unreadable,
    /// Not JSON, or cut short.
    Corrupt,
    /// JSON, but not a state file of this exporter (or of another slot).
    Foreign,
    /// Written by a newer version of the exporter.
    NewerVersion,
    /// A state file of this version whose data does not decode into the slot's type.
    Undecodable,
}

impl LoadError {
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadError::Unreadable => "unreadable",
            LoadError::Corrupt => "corrupt",
            LoadError::Foreign => "foreign",
            LoadError::NewerVersion => "newer_version",
            LoadError::Undecodable => "undecodable",
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    slot: String,
    data: Value,
}

#[derive(Default)]
struct Health {
    load_errors: BTreeMap<LoadError, u64>,
    writes: u64,
    write_errors: u64,
    /// Whether the last write failed (to log once per change of state).
    failing: bool,
}

/// The exporter's persistent state: slot values in memory, and on disk when a directory is set.
pub struct StateStore {
    dir: Option<PathBuf>,
    memory: Mutex<BTreeMap<String, Value>>,
    health: Mutex<Health>,
    /// Slots whose file was already read (a slot is read from disk once per process).
    read: Mutex<BTreeSet<String>>,
    /// Slots already loaded with [`StateSlot::load_at_start`] in this process.
    started: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("dir", &self.dir)
            .finish()
    }
}

impl StateStore {
    /// State kept in memory only: it survives reloads, not restarts.
    pub fn in_memory() -> Arc<Self> {
        Arc::new(StateStore {
            dir: None,
            memory: Mutex::default(),
            health: Mutex::default(),
            read: Mutex::default(),
            started: Mutex::default(),
        })
    }

    /// State kept in `dir` too (created if missing). A directory that cannot be created or
    /// written is reported (log and `usage_exporter_state_write_errors_total`) and the exporter
    /// runs on with state in memory, retrying the directory at every save.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Arc<Self> {
        let store = StateStore {
            dir: Some(dir.into()),
            ..Arc::into_inner(Self::in_memory()).expect("a new store has one owner")
        };
        if let Err(e) = store.check_dir() {
            store.write_failed(&e);
        }
        Arc::new(store)
    }

    /// The state directory, if state is persistent.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The slot named `name` (e.g. `tr50/<target>/api_calls/<identity>`).
    pub fn slot(self: &Arc<Self>, name: impl Into<String>) -> StateSlot {
        StateSlot {
            store: self.clone(),
            name: name.into(),
        }
    }

    fn check_dir(&self) -> Result<(), String> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create state directory {}: {e}", dir.display()))?;
        let probe = dir.join(".write-check.tmp");
        std::fs::write(&probe, b"")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| format!("cannot write in state directory {}: {e}", dir.display()))
    }

    /// The file of slot `name`: readable, and unique through a hash of the full name.
    fn path(&self, name: &str) -> Option<PathBuf> {
        let dir = self.dir.as_ref()?;
        let readable: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        let hash = Sha256::digest(name.as_bytes());
        let hash: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{readable}-{hash}.json")))
    }

    fn load_value(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.memory.lock().expect("state lock").get(name) {
            return Some(v.clone());
        }
        if !self
            .read
            .lock()
            .expect("state lock")
            .insert(name.to_string())
        {
            return None;
        }
        let path = self.path(name)?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.rejected(&path, LoadError::Unreadable, &e.to_string(), false);
                return None;
            }
        };
        match decode_envelope(&bytes, name) {
            Ok(v) => {
                // Kept, so a target rebuilt before its first save still finds it.
                self.memory
                    .lock()
                    .expect("state lock")
                    .insert(name.to_string(), v.clone());
                Some(v)
            }
            Err((reason, why)) => {
                self.rejected(&path, reason, &why, true);
                None
            }
        }
    }

    /// Reports a file that was not used, once, and sets it aside so the next start is clean.
    fn rejected(&self, path: &Path, reason: LoadError, why: &str, set_aside: bool) {
        *self
            .health
            .lock()
            .expect("state lock")
            .load_errors
            .entry(reason)
            .or_default() += 1;
        let aside = path.with_extension("json.rejected");
        let moved = set_aside && std::fs::rename(path, &aside).is_ok();
        tracing::warn!(
            file = %path.display(),
            reason = reason.as_str(),
            error = %why,
            set_aside = %if moved { aside.display().to_string() } else { "no".into() },
            "state file not used; this slot starts fresh (counters restart from a baseline)"
        );
    }

    fn save_value(&self, name: &str, value: Value) {
        self.memory
            .lock()
            .expect("state lock")
            .insert(name.to_string(), value.clone());
        let Some(path) = self.path(name) else { return };
        let envelope = Envelope {
            format: FORMAT.into(),
            version: VERSION,
            slot: name.into(),
            data: value,
        };
        match write_atomically(&path, &envelope) {
            Ok(()) => {
                let mut health = self.health.lock().expect("state lock");
                health.writes += 1;
                if health.failing {
                    health.failing = false;
                    tracing::info!(dir = %path.parent().unwrap_or(&path).display(), "state files are written again");
                }
            }
            Err(e) => self.write_failed(&e),
        }
    }

    fn write_failed(&self, error: &str) {
        let mut health = self.health.lock().expect("state lock");
        health.write_errors += 1;
        if !health.failing {
            health.failing = true;
            tracing::error!(%error, "cannot write state; counters and back-off are kept in memory only and would restart from a baseline after a restart");
        }
    }

    /// The state self-metrics.
    pub fn families(&self) -> Vec<Family> {
        let health = self.health.lock().expect("state lock");
        let mut enabled = Family::gauge(
            "usage_exporter_state_persistent",
            "Whether state (counter accumulators, high-water marks, login back-off) is kept in a state directory and survives restarts (1) or in memory only (0).",
        );
        enabled.push_gauge(Labels::new(), if self.dir.is_some() { 1.0 } else { 0.0 });
        let mut writes = Family::counter("usage_exporter_state_writes", "State files written.");
        let mut write_errors = Family::counter(
            "usage_exporter_state_write_errors",
            "Failed writes of state files (or an unusable state directory); the state is kept in memory meanwhile.",
        );
        let mut load_errors = Family::counter(
            "usage_exporter_state_load_errors",
            "State files not used at start-up, by reason (unreadable, corrupt, foreign, newer_version, undecodable); each is set aside as .rejected and its slot starts fresh.",
        );
        if self.dir.is_some() {
            writes.push_counter(Labels::new(), health.writes as f64, None);
            write_errors.push_counter(Labels::new(), health.write_errors as f64, None);
            for reason in [
                LoadError::Unreadable,
                LoadError::Corrupt,
                LoadError::Foreign,
                LoadError::NewerVersion,
                LoadError::Undecodable,
            ] {
                let n = health.load_errors.get(&reason).copied().unwrap_or(0);
                load_errors.push_counter(
                    Labels::new().with("reason", reason.as_str()),
                    n as f64,
                    None,
                );
            }
        }
        vec![enabled, writes, write_errors, load_errors]
    }
}

fn decode_envelope(bytes: &[u8], name: &str) -> Result<Value, (LoadError, String)> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| (LoadError::Corrupt, e.to_string()))?;
    let format = value.get("format").and_then(Value::as_str);
    if format != Some(FORMAT) {
        return Err((
            LoadError::Foreign,
            format!("format is {format:?}, not {FORMAT:?}"),
        ));
    }
    let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err((
            LoadError::NewerVersion,
            format!("written by format version {version}; this build reads up to {VERSION}"),
        ));
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| (LoadError::Foreign, e.to_string()))?;
    if envelope.slot != name {
        return Err((
            LoadError::Foreign,
            format!("holds slot {:?}, not {name:?}", envelope.slot),
        ));
    }
    Ok(envelope.data)
}

fn write_atomically(path: &Path, envelope: &Envelope) -> Result<(), String> {
    let what = |e: std::io::Error| format!("cannot write state file {}: {e}", path.display());
    let dir = path
        .parent()
        .expect("a state file is inside the state directory");
    std::fs::create_dir_all(dir).map_err(what)?;
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(envelope).expect("state values serialize");
    let mut file = std::fs::File::create(&tmp).map_err(what)?;
    file.write_all(&bytes).map_err(what)?;
    file.sync_all().map_err(what)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(what)?;
    // The rename itself is durable only once the directory is synced.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(what)
}

/// One piece of persistent state of one target.
#[derive(Clone)]
pub struct StateSlot {
    store: Arc<StateStore>,
    name: String,
}

impl std::fmt::Debug for StateSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StateSlot").field(&self.name).finish()
    }
}

impl StateSlot {
    /// A slot of a fresh in-memory store (tests, and targets built outside a daemon).
    pub fn detached(name: impl Into<String>) -> Self {
        StateStore::in_memory().slot(name)
    }

    /// The slot's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The saved value, if any and if it decodes; a value that does not decode is reported once
    /// and treated as absent.
    pub fn load<T: DeserializeOwned>(&self) -> Option<T> {
        let value = self.store.load_value(&self.name)?;
        match serde_json::from_value(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.store
                    .memory
                    .lock()
                    .expect("state lock")
                    .remove(&self.name);
                if let Some(path) = self.store.path(&self.name) {
                    self.store
                        .rejected(&path, LoadError::Undecodable, &e.to_string(), true);
                }
                None
            }
        }
    }

    /// Like [`StateSlot::load`], but only the first time the slot is loaded this way in this
    /// process: at start-up (restoring what a restart would lose), not when a reload rebuilds
    /// the target because its config changed (e.g. a corrected password, which deserves a fresh
    /// start).
    pub fn load_at_start<T: DeserializeOwned>(&self) -> Option<T> {
        let first = self
            .store
            .started
            .lock()
            .expect("state lock")
            .insert(self.name.clone());
        if first {
            self.load()
        } else {
            None
        }
    }

    /// Saves `value` (in memory, and to the slot's file when state is persistent).
    pub fn save<T: Serialize>(&self, value: &T) {
        let value = serde_json::to_value(value).expect("state values serialize");
        self.store.save_value(&self.name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Counts {
        total: f64,
        created: i64,
    }

    fn counts(total: f64) -> Counts {
        Counts {
            total,
            created: 1_700_000_000,
        }
    }

    fn metric(store: &StateStore, name: &str, reason: Option<&str>) -> f64 {
        let name = name.trim_end_matches("_total");
        let families = store.families();
        let Some(family) = families.iter().find(|f| f.name == name) else {
            return f64::NAN;
        };
        family
            .samples
            .iter()
            .find(|s| reason.is_none_or(|r| s.labels.get("reason") == Some(r)))
            .map(|s| match s.value {
                crate::snapshot::Value::Gauge(v) => v,
                crate::snapshot::Value::Counter { total, .. } => total,
                _ => f64::NAN,
            })
            .unwrap_or(f64::NAN)
    }

    #[test]
    fn a_saved_slot_survives_a_restart_and_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::in_dir(dir.path());
        let slot = store.slot("tr50/acme/api_calls");
        assert_eq!(slot.load::<Counts>(), None);
        slot.save(&counts(42.0));
        // A reload rebuilds the target with the same store: memory answers.
        assert_eq!(store.slot("tr50/acme/api_calls").load(), Some(counts(42.0)));
        // A restart: a new store on the same directory reads the file.
        let again = StateStore::in_dir(dir.path());
        assert_eq!(again.slot("tr50/acme/api_calls").load(), Some(counts(42.0)));
        assert_eq!(
            metric(&store, "usage_exporter_state_writes_total", None),
            1.0
        );
        assert_eq!(metric(&again, "usage_exporter_state_persistent", None), 1.0);
    }

    #[test]
    fn in_memory_state_survives_reloads_only_and_writes_nothing() {
        let store = StateStore::in_memory();
        store.slot("a").save(&counts(1.0));
        assert_eq!(store.slot("a").load(), Some(counts(1.0)));
        assert_eq!(StateStore::in_memory().slot("a").load::<Counts>(), None);
        assert_eq!(metric(&store, "usage_exporter_state_persistent", None), 0.0);
        assert!(metric(&store, "usage_exporter_state_writes_total", None).is_nan());
    }

    #[test]
    fn load_at_start_restores_once_per_process_only() {
        let dir = tempfile::tempdir().unwrap();
        StateStore::in_dir(dir.path()).slot("b").save(&counts(1.0));
        let store = StateStore::in_dir(dir.path());
        assert_eq!(store.slot("b").load_at_start(), Some(counts(1.0)));
        // A rebuild in the same process (a reload that changed the target) starts fresh.
        assert_eq!(store.slot("b").load_at_start::<Counts>(), None);
        assert_eq!(store.slot("b").load(), Some(counts(1.0)));
    }

    #[test]
    fn slots_with_similar_names_get_different_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::in_dir(dir.path());
        store.slot("tr50/a b/x").save(&counts(1.0));
        store.slot("tr50/a_b/x").save(&counts(2.0));
        let again = StateStore::in_dir(dir.path());
        assert_eq!(again.slot("tr50/a b/x").load(), Some(counts(1.0)));
        assert_eq!(again.slot("tr50/a_b/x").load(), Some(counts(2.0)));
    }

    #[test]
    fn a_write_killed_midway_leaves_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::in_dir(dir.path());
        let slot = store.slot("aveva/t/usage");
        slot.save(&counts(7.0));
        let file = store.path("aveva/t/usage").unwrap();
        // What a process killed during the next save leaves: a partial temporary file.
        std::fs::write(file.with_extension("json.tmp"), br#"{"format":"usage_exp"#).unwrap();
        let again = StateStore::in_dir(dir.path());
        assert_eq!(again.slot("aveva/t/usage").load(), Some(counts(7.0)));
        assert_eq!(
            metric(
                &again,
                "usage_exporter_state_load_errors_total",
                Some("corrupt")
            ),
            0.0
        );
    }

    fn damaged(contents: &[u8], reason: &str) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::in_dir(dir.path());
        let file = store.path("s").unwrap();
        std::fs::write(&file, contents).unwrap();
        assert_eq!(store.slot("s").load::<Counts>(), None, "{reason}");
        assert_eq!(
            metric(
                &store,
                "usage_exporter_state_load_errors_total",
                Some(reason)
            ),
            1.0,
            "{reason}"
        );
        // Reported once: asking again does not count again.
        assert_eq!(store.slot("s").load::<Counts>(), None);
        assert_eq!(
            metric(
                &store,
                "usage_exporter_state_load_errors_total",
                Some(reason)
            ),
            1.0
        );
        assert!(!file.exists(), "{reason}: set aside");
        assert!(file.with_extension("json.rejected").exists(), "{reason}");
        // A fresh start writes a good file again.
        store.slot("s").save(&counts(3.0));
        assert_eq!(
            StateStore::in_dir(dir.path()).slot("s").load(),
            Some(counts(3.0))
        );
    }

    #[test]
    fn truncated_corrupt_foreign_newer_and_undecodable_files_are_set_aside() {
        let good = serde_json::to_vec(&Envelope {
            format: FORMAT.into(),
            version: VERSION,
            slot: "s".into(),
            data: serde_json::to_value(counts(1.0)).unwrap(),
        })
        .unwrap();
        damaged(&good[..good.len() / 2], "corrupt");
        damaged(b"\x00\x01binary", "corrupt");
        damaged(br#"{"hello": "world"}"#, "foreign");
        damaged(
            br#"{"format":"usage_exporter state","version":1,"slot":"other","data":{}}"#,
            "foreign",
        );
        damaged(
            br#"{"format":"usage_exporter state","version":99,"slot":"s","data":{}}"#,
            "newer_version",
        );
        damaged(
            br#"{"format":"usage_exporter state","version":1,"slot":"s","data":{"total":"x"}}"#,
            "undecodable",
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_unwritable_directory_is_reported_and_state_stays_in_memory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o500)).unwrap();
        // root ignores permission bits: make the path a file instead, which no one can write into.
        let blocked = if std::fs::write(state.join("probe"), b"").is_ok() {
            let file = dir.path().join("not-a-dir");
            std::fs::write(&file, b"").unwrap();
            file
        } else {
            state.clone()
        };
        let store = StateStore::in_dir(&blocked);
        assert_eq!(
            metric(&store, "usage_exporter_state_write_errors_total", None),
            1.0
        );
        let slot = store.slot("s");
        slot.save(&counts(5.0));
        assert_eq!(slot.load(), Some(counts(5.0)));
        assert_eq!(
            metric(&store, "usage_exporter_state_write_errors_total", None),
            2.0
        );
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
