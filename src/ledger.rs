//! Import ledgers: what each online import wrote, kept in the store itself.
//!
//! An online import ([`crate::migrate::import_online`]) writes each batch with
//! [`Engram::import_batch`] (or its logged forms on [`crate::DurableEngram`] and
//! [`crate::SharedEngram`]): the batch's episodes, its concepts and the import's new progress
//! go into the engine — and, when durable, into one log record — together. So after any crash
//! the store says exactly which records of the source it holds: a resumed import continues
//! there (nothing imported twice, nothing missed), and a rollback removes exactly what the
//! import added. Ledgers are saved in snapshots (section `IMPT`) and replayed from the log.

use std::collections::BTreeMap;

use crate::engine::Engram;
use crate::error::Result;
use crate::memory::{ConceptId, EpisodeId, EpisodeMeta};
use crate::persist::format::{Dec, Enc};
use crate::persist::NewConcept;
use crate::vectors::validate_one;

/// What one import has written so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportLedger {
    /// The import's progress after its last batch, as the importer wrote it (for
    /// [`crate::migrate`], a JSON object: source position, prefix hash, skipped records).
    pub progress: String,
    /// The episodes it added, one `(first id, count)` run per batch, in order.
    pub episode_runs: Vec<(u64, u64)>,
    /// The concepts it added, in order.
    pub concepts: Vec<ConceptId>,
}

impl ImportLedger {
    /// Episodes added (forgotten ones included).
    pub fn episode_count(&self) -> u64 {
        self.episode_runs.iter().map(|r| r.1).sum()
    }

    /// Every episode id it added, in order.
    pub fn episode_ids(&self) -> impl Iterator<Item = EpisodeId> + '_ {
        self.episode_runs
            .iter()
            .flat_map(|&(first, n)| (first..first + n).map(EpisodeId))
    }
}

/// The ledgers of an engine, by import id.
pub(crate) type Ledgers = BTreeMap<String, ImportLedger>;

/// What [`Engram::rollback_import`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollbackReport {
    /// Episodes removed.
    pub episodes: u64,
    /// Concepts removed.
    pub concepts: u64,
    /// Episodes of the import that were already gone (forgotten or pruned meanwhile).
    pub already_gone: u64,
}

impl Engram {
    /// The ledger of import `id`, if the store holds one.
    pub fn import_ledger(&self, id: &str) -> Option<&ImportLedger> {
        self.imports.get(id)
    }

    /// The ids of every import with a ledger in the store.
    pub fn import_ids(&self) -> Vec<String> {
        self.imports.keys().cloned().collect()
    }

    /// Adds one batch of import `id` — episodes (as [`Engram::remember_batch`]) and concepts
    /// (as [`crate::persist::add_concept`]) — and sets the import's progress, all or nothing:
    /// every row and centroid is checked before anything changes. Returns the new ids.
    pub fn import_batch(
        &mut self,
        id: &str,
        progress: &str,
        rows: &[f32],
        metas: Vec<EpisodeMeta>,
        concepts: &[(Vec<f32>, NewConcept)],
    ) -> Result<(Vec<EpisodeId>, Vec<ConceptId>)> {
        for (c, _) in concepts {
            validate_one(c, self.dim())?;
        }
        // Ids for the whole batch must be available before any is taken (all or nothing).
        let dim = self.dim();
        self.check_episode_ids((rows.len() / dim.max(1)) as u64)?;
        self.check_concept_ids(concepts.len() as u64)?;
        // remember_batch checks every row and meta before it inserts any.
        let first = self.next_episode;
        let episodes = if metas.is_empty() && rows.is_empty() {
            Vec::new()
        } else {
            self.remember_batch(rows, metas)?
        };
        let mut concept_ids = Vec::with_capacity(concepts.len());
        for (c, nc) in concepts {
            concept_ids.push(crate::persist::add_concept(self, c, nc.clone())?);
        }
        let ledger = self.imports.entry(id.to_owned()).or_default();
        if !episodes.is_empty() {
            ledger.episode_runs.push((first, episodes.len() as u64));
        }
        ledger.concepts.extend_from_slice(&concept_ids);
        ledger.progress = progress.to_owned();
        Ok((episodes, concept_ids))
    }

    /// Removes everything import `id` added (its episodes with their bindings and links, its
    /// concepts) and its ledger. Episodes and concepts written by others are untouched.
    /// Unknown ids are an error ([`crate::InputError::UnknownImport`]).
    pub fn rollback_import(&mut self, id: &str) -> Result<RollbackReport> {
        let ledger = self
            .imports
            .remove(id)
            .ok_or_else(|| crate::error::InputError::UnknownImport(id.to_owned()))?;
        let mut r = RollbackReport::default();
        for e in ledger.episode_ids() {
            if self.forget(e).is_ok() {
                r.episodes += 1;
            } else {
                r.already_gone += 1;
            }
        }
        for &c in &ledger.concepts {
            if self.delete_concept(c).is_ok() {
                r.concepts += 1;
            }
        }
        Ok(r)
    }

    /// Drops the ledger of import `id` (its records stay): the import can no longer be
    /// resumed or rolled back. Returns whether there was one.
    pub fn forget_import(&mut self, id: &str) -> bool {
        self.imports.remove(id).is_some()
    }
}

/// Encodes the ledgers (the snapshot's `IMPT` section):
/// `n u64 | (id bytes | progress bytes | runs u64 | (first u64, count u64)* | concepts u64 |
/// id u64*)*`.
pub(crate) fn encode(e: &mut Enc, ledgers: &Ledgers) {
    e.u64(ledgers.len() as u64);
    for (id, l) in ledgers {
        e.bytes(id.as_bytes());
        e.bytes(l.progress.as_bytes());
        e.u64(l.episode_runs.len() as u64);
        for &(f, n) in &l.episode_runs {
            e.u64(f);
            e.u64(n);
        }
        e.u64(l.concepts.len() as u64);
        for c in &l.concepts {
            e.u64(c.0);
        }
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|e| format!("ledger text is not UTF-8: {e}"))
}

fn count(d: &Dec<'_>, n: u64, each: usize) -> Result<usize, String> {
    d.count(n, each, "ledger entries")
}

/// Checks decoded ledgers against the engine's counters: every episode run lies below the
/// next episode id and every concept below the next concept id (a ledger naming ids the
/// store never handed out is corrupt; a rollback would otherwise walk a run of up to 2^64
/// ids).
pub(crate) fn check(ledgers: &Ledgers, next_episode: u64, next_concept: u64) -> Result<(), String> {
    for (id, l) in ledgers {
        for &(first, n) in &l.episode_runs {
            if first.checked_add(n).is_none_or(|end| end > next_episode) {
                return Err(format!(
                    "import {id:?}: episode run {first} + {n} passes the next episode id \
                     {next_episode}"
                ));
            }
        }
        if let Some(c) = l.concepts.iter().find(|c| c.0 >= next_concept) {
            return Err(format!(
                "import {id:?}: concept {c} is not below the next concept id {next_concept}"
            ));
        }
    }
    Ok(())
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode(d: &mut Dec<'_>) -> Result<Ledgers, String> {
    let mut out = Ledgers::new();
    let n = d.u64()?;
    // The smallest entry: two empty length-prefixed texts and two zero counts.
    let n = count(d, n, 24)?;
    for _ in 0..n {
        let id = text(d.bytes()?)?;
        let progress = text(d.bytes()?)?;
        let runs = d.u64()?;
        let runs = count(d, runs, 16)?;
        let mut episode_runs = Vec::with_capacity(runs);
        for _ in 0..runs {
            let (first, len) = (d.u64()?, d.u64()?);
            if first.checked_add(len).is_none() {
                return Err(format!("episode run {first} + {len} overflows"));
            }
            episode_runs.push((first, len));
        }
        let nc = d.u64()?;
        let nc = count(d, nc, 8)?;
        let mut concepts = Vec::with_capacity(nc);
        for _ in 0..nc {
            concepts.push(ConceptId(d.u64()?));
        }
        if out
            .insert(
                id.clone(),
                ImportLedger {
                    progress,
                    episode_runs,
                    concepts,
                },
            )
            .is_some()
        {
            return Err(format!("import {id} appears twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledgers_round_trip_even_when_tiny() {
        let mut l = Ledgers::new();
        l.insert(String::new(), ImportLedger::default());
        l.insert("a".into(), ImportLedger::default());
        l.insert(
            "import-1".into(),
            ImportLedger {
                progress: r#"{"consumed_records":3}"#.into(),
                episode_runs: vec![(0, 2), (7, 1)],
                concepts: vec![ConceptId(4)],
            },
        );
        let mut e = Enc::default();
        encode(&mut e, &l);
        let mut d = Dec::new(&e.buf);
        assert_eq!(decode(&mut d).expect("decode"), l);
        assert_eq!(d.remaining(), 0);
        let ids: Vec<u64> = l["import-1"].episode_ids().map(|e| e.0).collect();
        assert_eq!(ids, vec![0, 1, 7]);
        // Only the smallest entries (24 and 25 bytes).
        let mut tiny = Ledgers::new();
        tiny.insert(String::new(), ImportLedger::default());
        tiny.insert("a".into(), ImportLedger::default());
        let mut e = Enc::default();
        encode(&mut e, &tiny);
        assert_eq!(decode(&mut Dec::new(&e.buf)).expect("tiny entries"), tiny);
        // An overflowing run is refused, not a panic later.
        let mut bad = Ledgers::new();
        bad.insert(
            "x".into(),
            ImportLedger {
                progress: String::new(),
                episode_runs: vec![(u64::MAX, 2)],
                concepts: vec![],
            },
        );
        let mut e = Enc::default();
        encode(&mut e, &bad);
        assert!(decode(&mut Dec::new(&e.buf)).is_err());
        // A count larger than the bytes can hold is refused.
        let mut e = Enc::default();
        e.u64(1 << 40);
        assert!(decode(&mut Dec::new(&e.buf)).is_err());
    }
}
