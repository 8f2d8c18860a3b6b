//! The read-only half of a cycle: choose the rows, cluster them on the backend, keep the
//! coherent clusters, find soft-membership candidates and match clusters to concepts.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::config::{ClusterCount, ConsolidationConfig};
use super::report::PhaseTimings;
use crate::cluster::partial_sums_unchecked;
use crate::cluster::steps::{reduce, score_block, Assignment};
use crate::cluster::ClusterError;
use crate::cluster::{
    assign_resident, assign_top2_resident, discover_resident, dot, fit_resident, lloyd_resident,
    splitmix, top2_is_free, DiscoverParams, KMeansModel, KMeansParams, LloydOptions, Resident,
};
use crate::compute::gpu::GpuLayout;
use crate::engine::Engram;
use crate::error::Result;
use crate::memory::{ConceptId, EpisodeId};

/// Label of a row whose cluster was not kept.
pub(crate) const UNKEPT: u32 = u32::MAX;

/// One row of a cycle: which episode, whether it was replayed, and where it went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PlannedRow {
    pub(crate) episode: EpisodeId,
    pub(crate) replay: bool,
    /// Index into the plan's kept clusters, or [`UNKEPT`].
    pub(crate) cluster: u32,
    /// Cosine to that cluster's centroid.
    pub(crate) score: f32,
    /// The second-best kept cluster within the soft margin, with its cosine.
    pub(crate) second: Option<(u32, f32)>,
}

/// A cluster that met the thresholds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedCluster {
    pub(crate) centroid: Vec<f32>,
    pub(crate) size: usize,
    pub(crate) coherence: f32,
    /// The existing concept it is (cosine ≥ the match threshold, one-to-one).
    pub(crate) matched: Option<ConceptId>,
}

/// The result of [`Engram::prepare_cycle`], to be applied by [`Engram::apply_cycle`] on the
/// same engine. Holds the cycle's rows with their clusters and the clusters' centroids.
#[derive(Debug, Clone, PartialEq)]
pub struct CyclePlan {
    pub(crate) cycle: u64,
    pub(crate) now: u64,
    pub(crate) watermark: u64,
    pub(crate) rows: Vec<PlannedRow>,
    pub(crate) clusters: Vec<PlannedCluster>,
    pub(crate) clusters_found: usize,
    pub(crate) episodes_new: usize,
    pub(crate) timings: PhaseTimings,
}

impl CyclePlan {
    /// The engine's cycle count when the plan was prepared (it applies only while that holds).
    pub fn base_cycle(&self) -> u64 {
        self.cycle
    }
    /// The clock value of the cycle.
    pub fn now(&self) -> u64 {
        self.now
    }
    /// Rows in the cycle (new episodes plus the replay sample).
    pub fn rows(&self) -> usize {
        self.rows.len()
    }
    /// Clusters kept (coherent and large enough).
    pub fn clusters_kept(&self) -> usize {
        self.clusters.len()
    }
    /// How many kept clusters match an existing concept.
    pub fn clusters_matched(&self) -> usize {
        self.clusters.iter().filter(|c| c.matched.is_some()).count()
    }
    /// Time spent so far (sampling, clustering, matching).
    pub fn timings(&self) -> PhaseTimings {
        self.timings
    }
}

/// Rows chosen for a cycle, in row order, with the new/replay split.
struct Chosen {
    rows: Vec<(usize, EpisodeId, bool)>,
    new: usize,
}

fn choose_rows(e: &Engram, cfg: &ConsolidationConfig, seed: u64) -> Chosen {
    let watermark = e.consolidation.watermark;
    let mut old = Vec::new();
    let mut new = Vec::new();
    for (r, id, _) in e.graph.episodes() {
        if id.0 >= watermark {
            new.push((r, id, false));
        } else {
            old.push((r, id, true));
        }
    }
    // In f32, so that e.g. 1000 × 0.1 is 100 (in f64 it is 100.0000015, which ceils to 101).
    let want = (new.len() as f32 * cfg.replay_fraction).ceil();
    let want = (want as usize).max(cfg.replay_min).min(old.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pick = rand::seq::index::sample(&mut rng, old.len(), want).into_vec();
    pick.sort_unstable();
    // Old ids are below the watermark, new ones at or above it: replayed rows come first.
    let mut rows: Vec<_> = pick.into_iter().map(|i| old[i]).collect();
    let n_new = new.len();
    rows.extend(new);
    Chosen { rows, new: n_new }
}

/// Rows worst explained by `scores`, farthest first, at most `count`, each with cosine below
/// `separation` to the seeds already taken.
fn farthest_seeds(
    data: &[f32],
    dim: usize,
    scores: &[f32],
    count: usize,
    separation: f32,
) -> Vec<f32> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut seeds: Vec<f32> = Vec::new();
    for i in order {
        if seeds.len() / dim >= count {
            break;
        }
        let x = &data[i * dim..(i + 1) * dim];
        if seeds.chunks(dim).all(|s| dot(s, x) < separation) {
            seeds.extend_from_slice(x);
        }
    }
    seeds
}

/// The smallest mean piece of the default over-clustering: pieces of one cluster need enough
/// rows for their centroids to be near-parallel (≥ 0.9, the merge threshold, for rows at
/// cosine ≈ 0.7 to their centre).
const PIECE_ROWS: usize = 20;

/// Discovery parameters for `n` rows: over-clustering with `max_k` (default ⌈2√n⌉, at most
/// `n / 20` so that pieces hold about 20 rows or more) and, as
/// the smallest cluster, the larger of the configured minimum and the mean over-clustered size
/// `n / k'` — a real cluster is at least as large as a typical piece of the over-clustering,
/// while the splinters of peripheral rows it leaves are much smaller and get reassigned.
fn discover_params(
    cfg: &ConsolidationConfig,
    max_k: Option<usize>,
    n: usize,
    seed: u64,
) -> DiscoverParams {
    let kp = max_k
        .unwrap_or_else(|| ((2.0 * (n as f64).sqrt()).ceil() as usize).min(n / PIECE_ROWS))
        .clamp(1, n.max(1));
    DiscoverParams::new()
        .seed(seed)
        .max_iter(cfg.max_iter)
        .max_k(kp)
        .min_cluster_size(cfg.min_cluster_size.max(n / kp).max(2))
}

/// A cycle's clustering, with what the certified warm step knows for free.
struct Clustered {
    model: KMeansModel,
    /// Each row's cosine to its centroid in `model`, when already computed.
    scores: Option<Vec<f32>>,
    /// Per row, an upper bound on its cosine to any other centroid of `model`.
    others_below: Option<Vec<f32>>,
}

impl From<KMeansModel> for Clustered {
    fn from(model: KMeansModel) -> Self {
        Self {
            model,
            scores: None,
            others_below: None,
        }
    }
}

/// Slack of the certified warm step's bounds: covers the rounding of the GEMM scores, of the
/// angles, and of rows stored as f16 (unit length only to about 1e-3).
const BOUND_SLACK: f32 = 2e-3;

/// The angle each centroid moved from `old` to `new` (both unit rows), computed stably from
/// the chord length in f64.
fn moved_angles(old: &[f32], new: &[f32], dim: usize) -> Vec<f32> {
    old.chunks(dim)
        .zip(new.chunks(dim))
        .map(|(a, b)| {
            let d2: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                .sum();
            (2.0 * (d2.sqrt() / 2.0).min(1.0).asin()) as f32
        })
        .collect()
}

/// One warm Lloyd step whose convergence is proved without a second assignment pass.
///
/// `first` is the assignment of the rows to `init` and `second` each row's second-best
/// cosine ([`assign_top2`]). Updates the centroids once, then bounds each row on the sphere
/// (angles obey the triangle inequality): its cosine to its own moved centroid is at least
/// `cos(θ₁ + δ_own)`, to any other at most `cos(max(0, θ₂ − δ_max))`, where θ₁, θ₂ are the
/// angles to the best and second-best old centroids and δ the angles the centroids moved. If
/// the first beats the second for every row (with [`BOUND_SLACK`]), the next assignment would
/// return the same labels: the result is exactly where Lloyd stops after one iteration
/// (labels stable), without the pass that checks it. Otherwise `first` is handed back for
/// the usual Lloyd run.
fn certified_warm_step(
    on: Resident<'_>,
    data: &[f32],
    dim: usize,
    init: &[f32],
    first: Assignment,
    second: &[f32],
) -> Result<std::result::Result<Clustered, Assignment>> {
    let k = init.len() / dim;
    let sums = partial_sums_unchecked(on, data, dim, &first.labels, k)?;
    let Ok(next) = reduce(&sums, init) else {
        return Ok(Err(first));
    };
    let moved = moved_angles(init, &next, dim);
    // The largest move, and the largest among the others for the centroid that made it.
    let (mut top, mut top_at, mut runner) = (0f32, usize::MAX, 0f32);
    for (j, &m) in moved.iter().enumerate() {
        if m > top {
            runner = top;
            top = m;
            top_at = j;
        } else if m > runner {
            runner = m;
        }
    }
    let n = first.labels.len();
    let mut others_below = vec![0f32; n];
    let certified = others_below
        .par_iter_mut()
        .enumerate()
        .map(|(i, bound)| {
            let j = first.labels[i] as usize;
            let t1 = first.scores[i].clamp(-1.0, 1.0).acos();
            let t2 = if second[i].is_finite() {
                second[i].clamp(-1.0, 1.0).acos()
            } else {
                std::f32::consts::PI
            };
            let others_moved = if j == top_at { runner } else { top };
            let own_low = (t1 + moved[j]).min(std::f32::consts::PI).cos();
            let other_high = (t2 - others_moved).max(0.0).cos();
            *bound = other_high + BOUND_SLACK;
            own_low > other_high + BOUND_SLACK
        })
        .all(|ok| ok);
    if !certified {
        return Ok(Err(first));
    }
    let mut scores = vec![0f32; n];
    let level = crate::compute::cpu::SimdLevel::current();
    scores.par_iter_mut().enumerate().for_each(|(i, s)| {
        let j = first.labels[i] as usize;
        *s = level.dot(&data[i * dim..(i + 1) * dim], &next[j * dim..(j + 1) * dim]);
    });
    let objective = scores.iter().map(|&s| s as f64).sum();
    Ok(Ok(Clustered {
        model: KMeansModel {
            k,
            dim,
            centroids: next,
            labels: first.labels,
            objective,
            iterations: 1,
            converged: true,
            metric: crate::cluster::Metric::Spherical,
        },
        scores: Some(scores),
        others_below: Some(others_below),
    }))
}

impl Engram {
    /// The clustering of a cycle where its rows are computed on (`on`; `data` is their host
    /// copy).
    fn cycle_clusters(
        &self,
        on: Resident<'_>,
        cfg: &ConsolidationConfig,
        data: &[f32],
        seed: u64,
    ) -> Result<Clustered> {
        let dim = self.dim();
        let n = data.len() / dim;
        let existing = self.graph.concept_ids();
        let params_err = |e| crate::Error::Cluster(ClusterError::Params(e));
        if existing.is_empty() {
            return match cfg.clusters {
                ClusterCount::Fixed(k) => {
                    let p = KMeansParams::new(k.min(n))
                        .seed(seed)
                        .max_iter(cfg.max_iter)
                        .check()
                        .map_err(params_err)?;
                    fit_resident(on, &p, data, dim).map(Clustered::from)
                }
                ClusterCount::Discover { max_k } => {
                    let p = discover_params(cfg, max_k, n, seed);
                    discover_resident(on, &p.check().map_err(params_err)?, data, dim)
                        .map(Clustered::from)
                }
            };
        }
        let mut init = Vec::with_capacity(existing.len() * dim);
        let mut buf = vec![0.0f32; dim];
        for c in &existing {
            if let Some(node) = self.graph.concept_node(*c) {
                self.centroids.read_row(node.row, &mut buf);
                init.extend_from_slice(&buf);
            }
        }
        // With a free second-best score, the common warm case — the concepts explain the rows
        // and move little — is proved converged after one step ([`certified_warm_step`]);
        // anything else clusters as usual from `first`.
        let k0 = existing.len();
        let adds_fixed = matches!(cfg.clusters, ClusterCount::Fixed(k) if k > k0);
        let (first, second) = if top2_is_free(&on, k0) {
            let (a, s) = assign_top2_resident(on, data, dim, &init)?;
            (a, Some(s))
        } else {
            (assign_resident(on, data, dim, &init)?, None)
        };
        let novel_count = first
            .scores
            .iter()
            .filter(|&&s| s < cfg.novelty_threshold)
            .count();
        let adds_discovered = matches!(cfg.clusters, ClusterCount::Discover { .. })
            && novel_count >= cfg.min_cluster_size.max(2);
        let first = match second {
            Some(second) if !adds_fixed && !adds_discovered => {
                match certified_warm_step(on, data, dim, &init, first, &second)? {
                    Ok(c) => return Ok(c),
                    Err(first) => first,
                }
            }
            _ => first,
        };
        let extra = match cfg.clusters {
            ClusterCount::Fixed(k) if k > existing.len() => farthest_seeds(
                data,
                dim,
                &first.scores,
                k - existing.len(),
                cfg.novelty_threshold,
            ),
            ClusterCount::Fixed(_) => Vec::new(),
            ClusterCount::Discover { max_k } => {
                self.novel_centroids(on, cfg, max_k, data, &first.scores, seed)?
            }
        };
        let start_given = extra.is_empty();
        init.extend_from_slice(&extra);
        let opts = LloydOptions {
            max_iter: cfg.warm_iter,
            tolerance: 1e-6,
            repair_empty: false,
        };
        lloyd_resident(on, data, dim, init, &opts, start_given.then_some(first))
            .map(Clustered::from)
    }

    /// The centroids of the clusters discovered among the rows no concept explains (score
    /// below the novelty threshold), those of at least the minimum size; on the GPU the
    /// novel rows are gathered on the device.
    fn novel_centroids(
        &self,
        on: Resident<'_>,
        cfg: &ConsolidationConfig,
        max_k: Option<usize>,
        data: &[f32],
        scores: &[f32],
        seed: u64,
    ) -> Result<Vec<f32>> {
        let dim = self.dim();
        let novel: Vec<usize> = (0..scores.len())
            .filter(|&i| scores[i] < cfg.novelty_threshold)
            .collect();
        if novel.len() < cfg.min_cluster_size.max(2) {
            return Ok(Vec::new());
        }
        let mut nd = Vec::with_capacity(novel.len() * dim);
        for &i in &novel {
            nd.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        let sub = match on {
            Resident::Cpu => None,
            // The cycle's rows are on the device (so fewer than 2³² of them).
            Resident::Gpu { .. } => {
                on.gather(&novel.iter().map(|&i| i as u32).collect::<Vec<_>>())?
            }
        };
        let p = discover_params(cfg, max_k, novel.len(), seed)
            .check()
            .map_err(|e| crate::Error::Cluster(ClusterError::Params(e)))?;
        let m = discover_resident(on.with(sub.as_ref()), &p, &nd, dim)?;
        let sizes = m.sizes();
        Ok(m.centroids
            .chunks(dim)
            .zip(sizes)
            .filter(|(_, s)| *s >= cfg.min_cluster_size)
            .flat_map(|(c, _)| c.iter().copied())
            .collect())
    }

    /// The expensive, read-only half of a consolidation cycle at clock `now`: chooses the rows
    /// (episodes added since the last cycle plus a seeded replay sample of older ones),
    /// clusters them on the engine's backend, keeps the clusters that meet the coherence and
    /// size thresholds, finds soft-membership candidates and matches clusters to existing
    /// concepts. Takes `&self`, so it can run under a read lock while searches continue.
    ///
    /// # Errors
    /// [`crate::Error::Cluster`] or [`crate::Error::Gpu`] when clustering fails (a GPU failure
    /// falls back to the CPU instead when [`crate::Config::falls_back_to_cpu`]);
    /// [`crate::Error::CounterOverflow`] when the cycle count is at `u64::MAX`.
    pub fn prepare_cycle(&self, now: u64) -> Result<CyclePlan> {
        // The cycle this plan would be applied as must be representable (checked again, with
        // the concept ids it needs, by `apply_cycle`).
        let next_cycle = crate::Error::check_counter("consolidation cycle", self.cycle, 1)?;
        let cfg = self.config.consolidation_config().clone();
        let dim = self.dim();
        let mut timings = PhaseTimings::default();
        let t = Instant::now();
        let seed = splitmix(cfg.seed ^ splitmix(next_cycle));
        let chosen = choose_rows(self, &cfg, seed);
        let n = chosen.rows.len();
        // The gather buffer of the previous cycle, if large enough: fresh pages would cost
        // more to fault in (and zero) than the gather itself.
        let mut buffer = std::mem::take(&mut *self.cycle_rows.lock());
        if buffer.len() < n * dim {
            buffer = vec![0.0f32; n * dim];
            // Ask for huge pages before the parallel gather touches them.
            crate::vectors::advise_huge(buffer.as_ptr().cast(), buffer.len() * 4);
        }
        let data = &mut buffer[..n * dim];
        data.par_chunks_mut(dim)
            .zip(&chosen.rows)
            .for_each(|(dst, &(r, _, _))| {
                self.episodes.read_row(r, dst);
            });
        timings.sample = t.elapsed();
        let plan = self.plan_on(&cfg, chosen, data, now, seed, timings);
        *self.cycle_rows.lock() = buffer;
        plan
    }

    /// [`Engram::prepare_cycle`] once the rows are gathered into `data`.
    fn plan_on(
        &self,
        cfg: &ConsolidationConfig,
        chosen: Chosen,
        data: &[f32],
        now: u64,
        seed: u64,
        timings: PhaseTimings,
    ) -> Result<CyclePlan> {
        let n = chosen.rows.len();
        let mut plan = CyclePlan {
            cycle: self.cycle,
            now,
            watermark: self.next_episode,
            rows: chosen
                .rows
                .iter()
                .map(|&(_, episode, replay)| PlannedRow {
                    episode,
                    replay,
                    cluster: UNKEPT,
                    score: 0.0,
                    second: None,
                })
                .collect(),
            clusters: Vec::new(),
            clusters_found: 0,
            episodes_new: chosen.new,
            timings,
        };
        if n < cfg.min_cluster_size.max(1) {
            return Ok(plan);
        }

        let t = Instant::now();
        // Through the device's one door: a GPU failure (or a simulated one) falls back to the
        // CPU, or is returned, exactly as for a search.
        // On the GPU the cycle's rows are gathered by index from the resident copy (which
        // uploads only the rows it lacks): no row is sent again.
        let on_gpu = self.device.run_gpu("clustering", |g| {
            let index = chosen
                .rows
                .iter()
                .map(|&(r, _, _)| u32::try_from(r))
                .collect::<std::result::Result<Vec<u32>, _>>()
                .map_err(|_| {
                    crate::GpuError::Unsupported("a row beyond the GPU's 32-bit indices".into())
                })?;
            let layout = if self.config.storage().has_f32() {
                GpuLayout::F32
            } else {
                GpuLayout::F16
            };
            let rows = self.episodes.row_set();
            let gathered = g.with_rows(&rows, layout, |ctx, m| m.gather(ctx, &index))?;
            let on = Resident::Gpu {
                ctx: g.context(),
                rows: &gathered,
            };
            self.cycle_clusters(on, cfg, data, seed)
        })?;
        let model = match on_gpu {
            Some(m) => m,
            None => self.cycle_clusters(Resident::Cpu, cfg, data, seed)?,
        };
        plan.timings.cluster = t.elapsed();

        let t = Instant::now();
        self.plan_clusters(cfg, data, model, &mut plan);
        plan.timings.matching = t.elapsed();
        Ok(plan)
    }

    /// Cluster statistics, thresholds, soft-membership candidates and matching.
    fn plan_clusters(
        &self,
        cfg: &ConsolidationConfig,
        data: &[f32],
        clustered: Clustered,
        plan: &mut CyclePlan,
    ) {
        let dim = self.dim();
        let level = self.device.level();
        let Clustered {
            model,
            scores,
            others_below,
        } = clustered;
        let k = model.k;
        let mut size = vec![0usize; k];
        let mut score_sum = vec![0f64; k];
        // The model's labels are the arg-max for its centroids; the cosines, unless known.
        let scores = scores.unwrap_or_else(|| {
            let mut scores = vec![0f32; plan.rows.len()];
            scores.par_iter_mut().enumerate().for_each(|(i, s)| {
                let j = model.labels[i] as usize;
                *s = level.dot(
                    &data[i * dim..(i + 1) * dim],
                    &model.centroids[j * dim..(j + 1) * dim],
                );
            });
            scores
        });
        for (i, &l) in model.labels.iter().enumerate() {
            size[l as usize] += 1;
            score_sum[l as usize] += scores[i] as f64;
        }
        plan.clusters_found = size.iter().filter(|&&s| s > 0).count();
        let mut kept_index = vec![UNKEPT; k];
        let mut kept_centroids = Vec::new();
        for j in 0..k {
            let coherence = if size[j] > 0 {
                (score_sum[j] / size[j] as f64) as f32
            } else {
                0.0
            };
            if size[j] >= cfg.min_cluster_size.max(1) && coherence >= cfg.min_coherence {
                kept_index[j] = plan.clusters.len() as u32;
                let c = model.centroids[j * dim..(j + 1) * dim].to_vec();
                kept_centroids.extend_from_slice(&c);
                plan.clusters.push(PlannedCluster {
                    centroid: c,
                    size: size[j],
                    coherence,
                    matched: None,
                });
            }
        }
        let kk = plan.clusters.len();
        if kk == 0 {
            return;
        }

        // Soft-membership candidates: the nearest kept clusters of each kept cluster.
        let m = cfg.soft_candidates.min(kk - 1);
        // Each neighbour comes with its angle to the cluster, nearest first.
        let mut neighbours: Vec<Vec<(u32, f32)>> = vec![Vec::new(); kk];
        if m > 0 {
            let mut cos = vec![0f32; kk * kk];
            score_block(&kept_centroids, dim, &kept_centroids, &mut cos);
            neighbours.par_iter_mut().enumerate().for_each(|(a, nb)| {
                let row = &cos[a * kk..(a + 1) * kk];
                let mut idx: Vec<u32> = (0..kk as u32).filter(|&b| b as usize != a).collect();
                idx.sort_by(|&x, &y| row[y as usize].total_cmp(&row[x as usize]).then(x.cmp(&y)));
                idx.truncate(m);
                *nb = idx
                    .into_iter()
                    .map(|b| (b, row[b as usize].clamp(-1.0, 1.0).acos()))
                    .collect();
            });
        }
        let margin = cfg.soft_margin;
        let floor = cfg.prune_below;
        let clusters = &plan.clusters;
        plan.rows.par_iter_mut().enumerate().for_each(|(i, row)| {
            let j = kept_index[model.labels[i] as usize];
            if j == UNKEPT {
                return;
            }
            row.cluster = j;
            row.score = scores[i];
            let x = &data[i * dim..(i + 1) * dim];
            // On the sphere, angle(x, c_b) ≥ angle(c_j, c_b) − angle(x, c_j), so
            // cos(x, c_b) ≤ cos(max(0, φ_b − θ)). A neighbour whose bound is below what a
            // second binding needs cannot qualify, and neither can any farther one: the dot
            // products are skipped without changing the result (the slack covers rounding and
            // rows stored as f16, whose length is 1 only to about 1e-3).
            let need = (row.score - margin).max(floor);
            // No other centroid can come close enough (bound from the certified step).
            if others_below.as_ref().is_some_and(|b| b[i] < need) {
                return;
            }
            let theta = row.score.clamp(-1.0, 1.0).acos();
            let mut best: Option<(u32, f32)> = None;
            for &(b, phi) in &neighbours[j as usize] {
                if (phi - theta).max(0.0).cos() + 2e-3 < need {
                    break;
                }
                let s = level.dot(x, &clusters[b as usize].centroid);
                if best.is_none_or(|(_, bs)| s > bs) {
                    best = Some((b, s));
                }
            }
            row.second = best.filter(|&(_, s)| s >= row.score - margin && s >= floor);
        });

        self.match_concepts(cfg, &kept_centroids, plan);
    }

    /// Matching: each kept cluster (centroids `kept_centroids`, in the order of
    /// `plan.clusters`) to an existing concept, one-to-one, greedy by cosine (ties: cluster,
    /// then concept id), when the cosine reaches the match threshold.
    fn match_concepts(
        &self,
        cfg: &ConsolidationConfig,
        kept_centroids: &[f32],
        plan: &mut CyclePlan,
    ) {
        let dim = self.dim();
        let kk = plan.clusters.len();
        let existing = self.graph.concept_ids();
        if existing.is_empty() {
            return;
        }
        let mut ex = Vec::with_capacity(existing.len() * dim);
        let mut buf = vec![0.0f32; dim];
        for c in &existing {
            if let Some(node) = self.graph.concept_node(*c) {
                self.centroids.read_row(node.row, &mut buf);
                ex.extend_from_slice(&buf);
            }
        }
        let ne = existing.len();
        let mut cos = vec![0f32; kk * ne];
        score_block(kept_centroids, dim, &ex, &mut cos);
        let mut pairs: Vec<(f32, u32, u32)> = Vec::new();
        for a in 0..kk {
            for b in 0..ne {
                let s = cos[a * ne + b];
                if s >= cfg.match_threshold {
                    pairs.push((s, a as u32, b as u32));
                }
            }
        }
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
        let mut concept_taken = vec![false; ne];
        for (_, a, b) in pairs {
            let (a, b) = (a as usize, b as usize);
            if plan.clusters[a].matched.is_none() && !concept_taken[b] {
                plan.clusters[a].matched = Some(existing[b]);
                concept_taken[b] = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::lloyd_on;
    use crate::cluster::steps::{assign_raw, assign_top2};
    use crate::compute::cpu::SimdLevel;
    use crate::compute::Backend;
    use crate::synth::SynthParams;

    const DIM: usize = 128;

    /// Rows of 12 clusters and centroids fitted on an earlier part of the same stream.
    fn setup() -> (Vec<f32>, Vec<f32>) {
        let s = SynthParams::new(16_000, DIM, 12)
            .seed(5)
            .check()
            .expect("synth");
        let fit_rows = s.rows(0, 8000).data;
        let p = KMeansParams::new(12).seed(1).check().expect("params");
        let model = p.fit(&fit_rows, DIM).expect("fit");
        (s.rows(8000, 16_000).data, model.centroids)
    }

    #[test]
    fn certified_step_equals_lloyd_and_its_bounds_hold() {
        let (data, init) = setup();
        let (first, second) = assign_top2(&data, DIM, &init);
        // The free second-best equals a brute-force second-best.
        let k = init.len() / DIM;
        for i in (0..first.labels.len()).step_by(97) {
            let x = &data[i * DIM..(i + 1) * DIM];
            let mut s: Vec<f32> = init.chunks(DIM).map(|c| dot(x, c)).collect();
            s.remove(first.labels[i] as usize);
            let want = s.into_iter().fold(f32::NEG_INFINITY, f32::max);
            assert!(
                (second[i] - want).abs() < 1e-5,
                "row {i}: {} vs {want}",
                second[i]
            );
        }
        let c = certified_warm_step(Resident::Cpu, &data, DIM, &init, first.clone(), &second)
            .expect("sums")
            .unwrap_or_else(|_| panic!("the warm step should be certified on this stream"));
        let opts = LloydOptions {
            max_iter: 10,
            tolerance: 1e-6,
            repair_empty: false,
        };
        let lloyd = lloyd_on(
            &Backend::Cpu(SimdLevel::current()),
            &data,
            DIM,
            init.clone(),
            &opts,
            Some(first),
        )
        .expect("lloyd");
        assert_eq!(lloyd.iterations, 1, "Lloyd also stops after one step");
        assert_eq!(c.model.labels, lloyd.labels);
        assert_eq!(c.model.centroids, lloyd.centroids);
        assert!((c.model.objective - lloyd.objective).abs() < 1e-3 * lloyd.objective.abs());
        // The bounds: own cosines exact, every other centroid below its row's bound.
        let scores = c.scores.expect("scores");
        let below = c.others_below.expect("bounds");
        for i in 0..c.model.labels.len() {
            let x = &data[i * DIM..(i + 1) * DIM];
            for (j, cj) in c.model.centroids.chunks(DIM).enumerate().take(k) {
                let s = dot(x, cj);
                if j == c.model.labels[i] as usize {
                    assert!((s - scores[i]).abs() < 1e-5);
                } else {
                    assert!(
                        s <= below[i],
                        "row {i}, centroid {j}: {s} > bound {}",
                        below[i]
                    );
                }
            }
        }
    }

    /// The certified step on rows resident on the GPU (top-2 assignment and sums there) gives
    /// the CPU's labels, and centroids to f32-summation rounding.
    #[cfg(feature = "gpu")]
    #[test]
    fn certified_step_on_the_gpu_equals_the_cpu() {
        use crate::compute::gpu::{GpuContext, GpuLayout, GpuMatrix, GpuOptions};
        let ctx = match GpuContext::new(&GpuOptions {
            allow_software: true,
            max_binding_override: None,
        }) {
            Ok(ctx) => ctx,
            Err(e) if std::env::var("ENGRAM_REQUIRE_GPU").as_deref() == Ok("1") => {
                panic!("ENGRAM_REQUIRE_GPU=1 but no GPU adapter: {e}")
            }
            Err(e) => {
                eprintln!("SKIPPED: no GPU adapter: {e}");
                return;
            }
        };
        let (data, init) = setup();
        let rows = GpuMatrix::from_rows(&ctx, DIM, GpuLayout::F32, &data).expect("upload");
        let on = Resident::Gpu {
            ctx: &ctx,
            rows: &rows,
        };
        assert!(top2_is_free(&on, 100_000));
        let (cpu_first, cpu_second) = assign_top2(&data, DIM, &init);
        let (first, second) = assign_top2_resident(on, &data, DIM, &init).expect("top2");
        assert_eq!(first.labels, cpu_first.labels);
        for (g, c) in second.iter().zip(&cpu_second) {
            assert!((g - c).abs() < 1e-5, "second best {g} vs {c}");
        }
        let c = certified_warm_step(on, &data, DIM, &init, first, &second)
            .expect("sums")
            .unwrap_or_else(|_| panic!("certified on the GPU too"));
        let want = certified_warm_step(Resident::Cpu, &data, DIM, &init, cpu_first, &cpu_second)
            .expect("sums")
            .unwrap_or_else(|_| panic!("certified"));
        assert_eq!(c.model.labels, want.model.labels);
        for (g, w) in c.model.centroids.iter().zip(&want.model.centroids) {
            assert!((g - w).abs() < 1e-5, "centroid component {g} vs {w}");
        }
    }

    #[test]
    fn uncertain_steps_are_handed_back() {
        // Centroids far from where the rows are: they move a lot, nothing can be proved.
        let (data, mut init) = setup();
        init.rotate_left(DIM / 2);
        for c in init.chunks_mut(DIM) {
            let n = dot(c, c).sqrt();
            c.iter_mut().for_each(|x| *x /= n);
        }
        let (first, second) = assign_top2(&data, DIM, &init);
        let labels = first.labels.clone();
        match certified_warm_step(Resident::Cpu, &data, DIM, &init, first, &second).expect("sums") {
            Ok(_) => panic!("a large move must not be certified"),
            Err(back) => assert_eq!(back.labels, labels),
        }
        // assign_top2's labels are assign_raw's.
        assert_eq!(assign_raw(&data, DIM, &init, None).labels, labels);
    }

    #[test]
    fn plans_with_and_without_the_certified_step_agree() {
        let (data, init) = setup();
        let mut e = Engram::new(
            crate::Config::new(DIM)
                .backend(crate::BackendChoice::Cpu)
                .consolidation(ConsolidationConfig::default().soft_margin(0.6)),
        )
        .expect("engine");
        for c in init.chunks(DIM) {
            crate::persist::add_concept(&mut e, c, Default::default()).expect("concept");
        }
        let (first, second) = assign_top2(&data, DIM, &init);
        let c = certified_warm_step(Resident::Cpu, &data, DIM, &init, first, &second)
            .expect("sums")
            .unwrap_or_else(|_| panic!("certified"));
        let plain = Clustered::from(c.model.clone());
        let cfg = e.config.consolidation_config().clone();
        let blank = |n: usize| CyclePlan {
            cycle: 0,
            now: 0,
            watermark: 0,
            rows: (0..n)
                .map(|i| PlannedRow {
                    episode: EpisodeId(i as u64),
                    replay: false,
                    cluster: UNKEPT,
                    score: 0.0,
                    second: None,
                })
                .collect(),
            clusters: Vec::new(),
            clusters_found: 0,
            episodes_new: n,
            timings: PhaseTimings::default(),
        };
        let n = data.len() / DIM;
        let (mut a, mut b) = (blank(n), blank(n));
        e.plan_clusters(&cfg, &data, c, &mut a);
        e.plan_clusters(&cfg, &data, plain, &mut b);
        let soft = a.rows.iter().filter(|r| r.second.is_some()).count();
        assert!(
            soft > 0,
            "the margin should give some rows a second binding"
        );
        assert_eq!(a, b);
        e.cycle_rows.get_mut().clear();
    }
}
