//! The bookkeeping half of a cycle (under the write lock): concepts updated or created,
//! bindings, replay, decay, promotion, pruning and concept links.

use std::time::Instant;

use rustc_hash::FxHashSet;

use super::config::ConsolidationConfig;
use super::plan::{CyclePlan, PlannedCluster, PlannedRow, UNKEPT};
use super::report::CycleReport;
use super::ConsolidationError;
use crate::cluster::steps::score_block;
use crate::engine::Engram;
use crate::error::Result;
use crate::memory::{Concept, ConceptId, ConceptState};

impl Engram {
    /// The bookkeeping half of a consolidation cycle: applies a plan from
    /// [`Engram::prepare_cycle`] of this engine (made since the last cycle) and advances the
    /// cycle count.
    ///
    /// In order: each kept cluster matched to a concept updates it in place (centroid moved
    /// toward the cluster's, weighted by member counts, renormalised; coherence likewise; one
    /// more confirmation; strength up; promoted after the configured confirmations), every
    /// other kept cluster becomes a new proto-concept; every row binds to its cluster's concept
    /// (strength = its cosine; an existing binding is strengthened) and, for soft membership, to
    /// its second-best concept within the margin; replayed episodes are strengthened; episodes,
    /// bindings and concepts not replayed decay along the forgetting curve; faded
    /// proto-concepts and weak bindings are removed; concept links are recomputed. Episodes
    /// forgotten since the plan was made are skipped.
    ///
    /// # Errors
    /// [`ConsolidationError::StalePlan`] if another cycle was applied after the plan was made,
    /// [`ConsolidationError::DimensionMismatch`] if the plan belongs to another engine,
    /// [`crate::Error::CounterOverflow`] if the cycle count or the concept ids the cycle needs
    /// would pass `u64::MAX`, [`crate::Error::Input`] if a new concept's centroid cannot be
    /// normalised. Nothing is changed then.
    pub fn apply_cycle(&mut self, plan: CyclePlan) -> Result<CycleReport> {
        let cycle = self.check_plan(&plan)?;
        let cfg = self.config.consolidation_config().clone();
        let now = plan.now;
        let mut report = CycleReport {
            now,
            episodes_new: plan.episodes_new,
            clusters_found: plan.clusters_found,
            clusters_kept: plan.clusters.len(),
            timings: plan.timings,
            min_decay_factor: 1.0,
            ..CycleReport::default()
        };
        let t = Instant::now();
        self.cycle = cycle;
        report.cycle = cycle;
        let (concept_of, confirmed) =
            self.apply_concepts(&plan.clusters, &cfg, cycle, now, &mut report)?;
        let touched = self.apply_bindings(&plan.rows, &concept_of, &cfg, now, &mut report);
        report.timings.apply = t.elapsed();

        let t = Instant::now();
        let faded = self.decay_unreplayed(&touched, &confirmed, &cfg, now, &mut report);
        report.timings.decay = t.elapsed();

        let t = Instant::now();
        self.prune_and_relink(faded, &cfg, &mut report)?;
        report.timings.prune = t.elapsed();

        let prev = self.consolidation.last_time;
        self.consolidation.watermark = self.consolidation.watermark.max(plan.watermark);
        self.consolidation.last_time = Some(prev.map_or(now, |p| p.max(now)));
        Ok(report)
    }

    /// Every check of [`Engram::apply_cycle`] that can fail, run before the first change:
    /// the plan is current and of this engine's dimension, and the next cycle number, one
    /// concept id per cluster that creates a concept, and those clusters' centroids are
    /// valid. Returns the next cycle number.
    fn check_plan(&self, plan: &CyclePlan) -> Result<u64> {
        if plan.cycle != self.cycle {
            return Err(ConsolidationError::StalePlan {
                planned: plan.cycle,
                current: self.cycle,
            }
            .into());
        }
        let dim = self.dim();
        if let Some(c) = plan.clusters.iter().find(|c| c.centroid.len() != dim) {
            return Err(ConsolidationError::DimensionMismatch {
                expected: dim,
                got: c.centroid.len(),
            }
            .into());
        }
        let cycle = crate::Error::check_counter("consolidation cycle", self.cycle, 1)?;
        let mut creates = 0u64;
        for cl in &plan.clusters {
            if cl
                .matched
                .is_none_or(|id| self.graph.concept_node(id).is_none())
            {
                crate::vectors::validate_one(&cl.centroid, dim)?;
                creates += 1;
            }
        }
        self.check_concept_ids(creates)?;
        Ok(cycle)
    }

    /// Concepts: updates the matched ones in place, creates the others. Returns each
    /// cluster's concept (by cluster index) and the set of concepts confirmed this cycle.
    fn apply_concepts(
        &mut self,
        clusters: &[PlannedCluster],
        cfg: &ConsolidationConfig,
        cycle: u64,
        now: u64,
        report: &mut CycleReport,
    ) -> Result<(Vec<Option<ConceptId>>, FxHashSet<ConceptId>)> {
        let mut concept_of: Vec<Option<ConceptId>> = Vec::with_capacity(clusters.len());
        let mut confirmed = FxHashSet::default();
        let mut buf = vec![0.0f32; self.dim()];
        for cl in clusters {
            let existing = cl
                .matched
                .and_then(|id| self.graph.concept_node(id).map(|n| (id, n.row)));
            let id = match existing {
                Some((id, row)) => {
                    self.confirm_concept(id, row, cl, cfg, cycle, &mut buf, report);
                    report.concepts_updated.push(id);
                    id
                }
                None => {
                    let state = if cfg.promote_after <= 1 {
                        ConceptState::Promoted
                    } else {
                        ConceptState::Proto
                    };
                    let concept = Concept {
                        id: ConceptId(0),
                        coherence: cl.coherence,
                        members: cl.size as u64,
                        strength: cfg.proto_strength,
                        state,
                        confirmations: 1,
                        formed_cycle: cycle,
                        updated_cycle: cycle,
                    };
                    let id = self.insert_concept(&cl.centroid, concept)?;
                    report.concepts_created.push(id);
                    id
                }
            };
            self.consolidation.concept_time.insert(id, now);
            confirmed.insert(id);
            concept_of.push(Some(id));
        }
        Ok((concept_of, confirmed))
    }

    /// Updates concept `id` (centroid in arena row `row`) in place from the cluster that
    /// matched it: centroid and coherence moved toward the cluster's (weighted by member
    /// counts), one more confirmation, strength up, promoted after the configured
    /// confirmations. `buf` is scratch of one row.
    #[allow(clippy::too_many_arguments)]
    fn confirm_concept(
        &mut self,
        id: ConceptId,
        row: usize,
        cl: &PlannedCluster,
        cfg: &ConsolidationConfig,
        cycle: u64,
        buf: &mut [f32],
        report: &mut CycleReport,
    ) {
        self.centroids.read_row(row, buf);
        let w_old = self.graph.concept_node(id).map_or(0, |n| n.member_count()) as f32;
        let w_new = cl.size as f32;
        let moved: Vec<f32> = buf
            .iter()
            .zip(&cl.centroid)
            .map(|(o, c)| w_old * o + w_new * c)
            .collect();
        // A zero sum (opposite centroids cannot match) keeps the old centroid.
        if self.set_centroid(id, &moved).is_err() {
            log::debug!("{id}: centroid update skipped (degenerate sum)");
        }
        if let Some(n) = self.graph.concept_node_mut(id) {
            let c = &mut n.concept;
            c.coherence = (w_old * c.coherence + w_new * cl.coherence) / (w_old + w_new);
            c.confirmations = c.confirmations.saturating_add(1);
            c.updated_cycle = cycle;
            c.strength += cfg.confirm_gain * (1.0 - c.strength);
            if c.state == ConceptState::Proto && c.confirmations >= cfg.promote_after {
                c.state = ConceptState::Promoted;
                report.concepts_promoted.push(id);
            }
        }
    }

    /// Bindings and replay: every planned row still stored binds to its cluster's concept
    /// (and its second-best within the margin), replayed rows are strengthened. Returns, by
    /// episode row, whether the row was in the cycle.
    fn apply_bindings(
        &mut self,
        rows: &[PlannedRow],
        concept_of: &[Option<ConceptId>],
        cfg: &ConsolidationConfig,
        now: u64,
        report: &mut CycleReport,
    ) -> Vec<bool> {
        let mut touched = vec![false; self.graph.episode_slots()];
        for row in rows {
            let Some(r) = self.graph.episode_row(row.episode) else {
                report.rows_skipped += 1;
                continue;
            };
            touched[r] = true;
            if row.replay {
                if let Some(n) = self.graph.node_at_mut(r) {
                    n.strength += cfg.replay_gain * (1.0 - n.strength);
                    n.rehearsals = n.rehearsals.saturating_add(1);
                    n.last_access = now;
                }
                report.episodes_replayed += 1;
            }
            if row.cluster == UNKEPT {
                continue;
            }
            let targets = std::iter::once((row.cluster, row.score)).chain(row.second);
            for (j, s) in targets {
                let Some(Some(c)) = concept_of.get(j as usize) else {
                    continue;
                };
                match self.graph.binding(row.episode, *c) {
                    Some(old) => {
                        let next = old.max(s) + cfg.binding_gain * (1.0 - old.max(s));
                        self.graph.bind(row.episode, *c, next);
                        report.bindings_strengthened += 1;
                    }
                    None => {
                        if self.graph.bind(row.episode, *c, s) {
                            report.bindings_created += 1;
                        }
                    }
                }
            }
        }
        touched
    }

    /// Decay of what was not replayed: episodes (and the bindings of episodes not in the
    /// cycle) and concepts not confirmed decay along the forgetting curve. Returns the
    /// proto-concepts that faded below the minimum strength.
    fn decay_unreplayed(
        &mut self,
        touched: &[bool],
        confirmed: &FxHashSet<ConceptId>,
        cfg: &ConsolidationConfig,
        now: u64,
        report: &mut CycleReport,
    ) -> Vec<ConceptId> {
        let curve = cfg.forgetting;
        let prev = self.consolidation.last_time;
        let mut factors: Vec<(usize, f32)> = Vec::new();
        let mut rebind: Vec<(usize, f32)> = Vec::new();
        let mut bindings_decayed = 0;
        // Episodes stored together share their last access: the factor of the previous
        // episode is reused when it is the same.
        let mut memo: Option<(u64, f32)> = None;
        for (r, _, n) in self.graph.episodes() {
            let in_cycle = touched.get(r).copied().unwrap_or(false);
            if in_cycle && n.last_access == now {
                continue; // replayed now
            }
            let f = match memo {
                Some((last, f)) if last == n.last_access => f,
                _ => {
                    let f = curve.step(n.last_access, prev.unwrap_or(n.last_access), now);
                    memo = Some((n.last_access, f));
                    f
                }
            };
            if f >= 1.0 {
                continue;
            }
            factors.push((r, f));
            if !in_cycle && !n.bindings().is_empty() {
                bindings_decayed += n.bindings().len();
                rebind.push((r, f));
            }
        }
        report.episodes_decayed = factors.len();
        for &(r, f) in &factors {
            report.min_decay_factor = report.min_decay_factor.min(f);
            if let Some(n) = self.graph.node_at_mut(r) {
                n.strength *= f;
            }
        }
        report.bindings_decayed = bindings_decayed;
        self.graph.scale_episode_bindings(&rebind);
        let mut faded = Vec::new();
        for c in self.graph.concept_ids() {
            if confirmed.contains(&c) {
                continue;
            }
            let last = *self.consolidation.concept_time.entry(c).or_insert(now);
            let f = curve.step(last, prev.unwrap_or(last), now);
            if let Some(n) = self.graph.concept_node_mut(c) {
                if f < 1.0 {
                    n.concept.strength *= f;
                    report.concepts_decayed += 1;
                }
                if n.concept.state == ConceptState::Proto
                    && n.concept.strength < cfg.concept_min_strength
                {
                    faded.push(c);
                }
            }
        }
        faded
    }

    /// Pruning, member counts, links: removes the `faded` concepts and the weak bindings,
    /// recounts members and recomputes concept links.
    fn prune_and_relink(
        &mut self,
        faded: Vec<ConceptId>,
        cfg: &ConsolidationConfig,
        report: &mut CycleReport,
    ) -> Result<()> {
        for c in faded {
            self.delete_concept(c)?;
            self.consolidation.concept_time.remove(&c);
            report.concepts_removed.push(c);
        }
        report.bindings_pruned = self.graph.prune_bindings(cfg.prune_below);
        for c in self.graph.concept_ids() {
            if let Some(n) = self.graph.concept_node_mut(c) {
                n.concept.members = n.member_count() as u64;
            }
        }
        self.relink_concepts(cfg.link_threshold, report);
        Ok(())
    }

    /// Links every pair of concepts whose centroids have cosine ≥ `threshold` (weight = the
    /// cosine) and removes the links of pairs that fell below.
    fn relink_concepts(&mut self, threshold: f32, report: &mut CycleReport) {
        let ids = self.graph.concept_ids();
        let n = ids.len();
        if n < 2 {
            return;
        }
        let dim = self.dim();
        let mut cents = vec![0.0f32; n * dim];
        for (c, dst) in ids.iter().zip(cents.chunks_mut(dim)) {
            if let Some(node) = self.graph.concept_node(*c) {
                self.centroids.read_row(node.row, dst);
            }
        }
        let mut cos = vec![0f32; n * n];
        score_block(&cents, dim, &cents, &mut cos);
        for a in 0..n {
            for b in a + 1..n {
                let s = cos[a * n + b];
                let linked = self
                    .graph
                    .concept_node(ids[a])
                    .is_some_and(|x| x.links().iter().any(|(o, _)| *o == ids[b]));
                if s >= threshold {
                    if self.graph.link_concepts(ids[a], ids[b], s) {
                        report.links_set += 1;
                    }
                } else if linked && self.graph.unlink_concepts(ids[a], ids[b]) {
                    report.links_removed += 1;
                }
            }
        }
    }
}
