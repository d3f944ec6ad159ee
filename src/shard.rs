//! Target sharding, as kube-state-metrics does it: `--total-shards=n` replicas share the targets,
//! each target (source kind + name) belongs to exactly one shard, and a replica polls and exposes
//! only its own.
//!
//! The owner is chosen by rendezvous (highest random weight) hashing over a stable hash
//! (SHA-256 of `kind/name/shard`): every replica computes the same assignment without talking to
//! the others, and going from n to n+1 shards moves only the targets the new shard wins (about
//! 1/(n+1) of them); no target moves between two old shards.

use sha2::{Digest, Sha256};
use std::fmt;

/// This process's shard: `index` of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this replica.
    pub index: u32,
    /// Number of replicas sharing the targets (1: no sharding).
    pub total: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, total: 1 }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {}", self.index, self.total)
    }
}

/// Why shard flags are wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardError(pub String);

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShardError {}

impl Shard {
    /// Shard `index` of `total`, checked.
    pub fn new(index: u32, total: u32) -> Result<Shard, ShardError> {
        if total == 0 {
            return Err(ShardError("--total-shards must be at least 1".into()));
        }
        if index >= total {
            return Err(ShardError(format!(
                "--shard={index} is not below --total-shards={total} (shards are numbered 0 to {})",
                total - 1
            )));
        }
        Ok(Shard { index, total })
    }

    /// The shard of a StatefulSet pod: the ordinal after the last `-` of its name
    /// (`usage-exporter-2` → 2), as kube-state-metrics' `--pod` does.
    pub fn from_pod(pod: &str, total: u32) -> Result<Shard, ShardError> {
        let ordinal = pod
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .ok_or_else(|| {
                ShardError(format!(
                    "--pod={pod:?} does not end in a StatefulSet ordinal such as usage-exporter-0; \
                     pass --shard instead, or set --pod from the pod name (fieldRef metadata.name)"
                ))
            })?;
        Shard::new(ordinal, total).map_err(|e| ShardError(format!("--pod={pod:?}: {e}")))
    }

    /// Whether the target `name` of source `kind` belongs to this shard.
    pub fn owns(&self, kind: &str, name: &str) -> bool {
        owner(kind, name, self.total) == self.index
    }
}

/// The shard (0-based) that owns target `name` of `kind` among `total` shards.
pub fn owner(kind: &str, name: &str, total: u32) -> u32 {
    (0..total.max(1))
        .max_by_key(|shard| weight(kind, name, *shard))
        .unwrap_or(0)
}

fn weight(kind: &str, name: &str, shard: u32) -> u64 {
    let mut hash = Sha256::new();
    // Lengths first, so that no two (kind, name) pairs feed the same bytes.
    hash.update((kind.len() as u64).to_be_bytes());
    hash.update(kind.as_bytes());
    hash.update((name.len() as u64).to_be_bytes());
    hash.update(name.as_bytes());
    hash.update(shard.to_be_bytes());
    let digest = hash.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("target-{i:04}")).collect()
    }

    #[test]
    fn every_target_has_exactly_one_owner() {
        for total in 1..=5 {
            for name in names(200) {
                let owners = (0..total)
                    .filter(|i| Shard::new(*i, total).unwrap().owns("scc", &name))
                    .count();
                assert_eq!(owners, 1, "{name} with {total} shards");
            }
        }
    }

    #[test]
    fn shards_are_balanced_and_the_assignment_is_stable() {
        let targets = names(3000);
        let mut counts = [0usize; 3];
        for t in &targets {
            counts[owner("tencent", t, 3) as usize] += 1;
        }
        for c in counts {
            assert!((850..=1150).contains(&c), "{counts:?}");
        }
        // Fixed values: the assignment must never change between versions or platforms, or an
        // upgrade would move targets between replicas.
        let fixed: Vec<u32> = ["prod", "staging", "gz", "eu"]
            .iter()
            .map(|n| owner("scc", n, 4))
            .collect();
        assert_eq!(fixed, FIXED_OWNERS);
    }

    const FIXED_OWNERS: [u32; 4] = [1, 3, 3, 0];

    #[test]
    fn going_from_three_to_four_shards_moves_only_what_the_new_shard_wins() {
        let targets = names(3000);
        let moved: Vec<&String> = targets
            .iter()
            .filter(|t| owner("scc", t, 3) != owner("scc", t, 4))
            .collect();
        assert!(moved.iter().all(|t| owner("scc", t, 4) == 3));
        let fraction = moved.len() as f64 / targets.len() as f64;
        assert!((0.2..=0.3).contains(&fraction), "{fraction}");
    }

    #[test]
    fn the_same_name_in_two_kinds_is_two_targets() {
        let differ = names(100)
            .iter()
            .filter(|n| owner("scc", n, 5) != owner("akana", n, 5))
            .count();
        assert!(differ > 50, "{differ}");
    }

    #[test]
    fn flags_are_checked() {
        assert_eq!(Shard::new(2, 3).unwrap(), Shard { index: 2, total: 3 });
        assert!(Shard::new(3, 3).unwrap_err().0.contains("not below"));
        assert!(Shard::new(0, 0).is_err());
        assert_eq!(
            Shard::from_pod("usage-exporter-2", 3).unwrap(),
            Shard { index: 2, total: 3 }
        );
        assert!(Shard::from_pod("usage-exporter", 3)
            .unwrap_err()
            .0
            .contains("ordinal"));
        assert!(Shard::from_pod("usage-exporter-5", 3)
            .unwrap_err()
            .0
            .contains("not below"));
    }
}
