//! Labelled synthetic streams: a mixture of clusters on the unit sphere, optionally drifting.
//!
//! Centres are `normalise(N(0, I))`; row `i` of cluster `j` is
//! `normalise(centre_j(i) + N(0, σ² I))` with `σ² = 1/dim` by default (then a row's cosine to
//! its centre is about 0.71 and two rows of one cluster about 0.5, while centres are nearly
//! orthogonal). With drift, centre `j` rotates in a fixed plane by `drift` radians every
//! `drift_step` rows of the stream.
//!
//! Every row is a pure function of `(seed, row index)` (its own ChaCha8 stream), so the whole
//! matrix ([`Synth::generate`]) and any chunking of it ([`Synth::chunks`]) give the same rows —
//! 10,000,000 rows can be streamed without holding them. Cluster sizes are exact (from the
//! size distribution, largest remainders first); a shuffled order is a keyed pseudo-random
//! permutation of the blocked order, computed per row in O(1) memory.
//!
//! ```
//! use engram::synth::SynthParams;
//! let s = SynthParams::new(1000, 16, 4).seed(3).check().unwrap();
//! let whole = s.generate();
//! let chunked: Vec<f32> = s.chunks(300).flat_map(|c| c.data).collect();
//! assert_eq!(whole.data, chunked);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::cluster::ParamsError;

/// How rows are shared among clusters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Sizes {
    /// All clusters the same size (± 1).
    #[default]
    Equal,
    /// Cluster `j` (0-based) gets a share proportional to `(j + 1)^(−exponent)`.
    Zipf {
        /// The exponent, ≥ 0 (1.0 is classic Zipf).
        exponent: f64,
    },
}

/// The order rows arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Clusters interleaved at random (a seeded permutation).
    #[default]
    Shuffled,
    /// All of cluster 0, then all of cluster 1, …
    Blocked,
}

/// Unchecked parameters of a synthetic stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthParams {
    n: usize,
    dim: usize,
    clusters: usize,
    sigma2: Option<f64>,
    sizes: Sizes,
    drift: f64,
    drift_step: usize,
    order: Order,
    seed: u64,
}

impl SynthParams {
    /// `n` rows of dimension `dim` in `clusters` clusters; defaults: `σ² = 1/dim`, equal sizes,
    /// no drift (`drift_step` 10,000 rows), shuffled order, seed 0.
    pub fn new(n: usize, dim: usize, clusters: usize) -> Self {
        Self {
            n,
            dim,
            clusters,
            sigma2: None,
            sizes: Sizes::Equal,
            drift: 0.0,
            drift_step: 10_000,
            order: Order::Shuffled,
            seed: 0,
        }
    }
    /// The noise variance per component. Default `1/dim`.
    pub fn sigma2(mut self, sigma2: f64) -> Self {
        self.sigma2 = Some(sigma2);
        self
    }
    /// The size distribution. Default [`Sizes::Equal`].
    pub fn sizes(mut self, sizes: Sizes) -> Self {
        self.sizes = sizes;
        self
    }
    /// Rotation of every centre, in radians per `drift_step` rows. Default 0.
    pub fn drift(mut self, drift: f64) -> Self {
        self.drift = drift;
        self
    }
    /// Rows per drift step. Default 10,000.
    pub fn drift_step(mut self, rows: usize) -> Self {
        self.drift_step = rows;
        self
    }
    /// The arrival order. Default [`Order::Shuffled`].
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }
    /// The seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Validates and draws the centres.
    ///
    /// # Errors
    /// [`ParamsError::OutOfRange`] for `n`, `dim`, `clusters` (1..=n), `sigma2`, the Zipf
    /// exponent, `drift` or `drift_step`.
    pub fn check(self) -> Result<Synth, ParamsError> {
        let bad = |name, range, value: f64| Err(ParamsError::OutOfRange { name, range, value });
        if self.n == 0 {
            return bad("n", "[1, ∞)", 0.0);
        }
        if self.dim == 0 {
            return bad("dim", "[1, ∞)", 0.0);
        }
        if self.clusters == 0 || self.clusters > self.n {
            return bad("clusters", "[1, n]", self.clusters as f64);
        }
        let sigma2 = self.sigma2.unwrap_or(1.0 / self.dim as f64);
        if !(sigma2.is_finite() && sigma2 >= 0.0) {
            return bad("sigma2", "[0, ∞)", sigma2);
        }
        if let Sizes::Zipf { exponent } = self.sizes {
            if !(exponent.is_finite() && exponent >= 0.0) {
                return bad("zipf exponent", "[0, ∞)", exponent);
            }
        }
        if !self.drift.is_finite() {
            return bad("drift", "finite", self.drift);
        }
        if self.drift_step == 0 {
            return bad("drift_step", "[1, ∞)", 0.0);
        }
        Ok(Synth::new(self, sigma2))
    }
}

/// A validated synthetic stream: the centres, the sizes and the row generator.
#[derive(Debug, Clone)]
pub struct Synth {
    p: SynthParams,
    sigma: f32,
    centres: Vec<f32>,
    planes: Vec<f32>,
    /// Cumulative sizes: cluster j holds blocked positions `ends[j-1]..ends[j]`.
    ends: Vec<usize>,
    half_bits: u32,
    keys: [u64; 4],
}

/// Generated rows with their true clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthData {
    /// Dimension.
    pub dim: usize,
    /// Rows, row-major, unit length.
    pub data: Vec<f32>,
    /// The true cluster of each row.
    pub labels: Vec<u32>,
}

/// One chunk of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthChunk {
    /// The index of the chunk's first row in the stream.
    pub start: usize,
    /// Rows, row-major, unit length.
    pub data: Vec<f32>,
    /// The true cluster of each row.
    pub labels: Vec<u32>,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x = (*x as f64 / norm) as f32);
    }
}

impl Synth {
    fn new(p: SynthParams, sigma2: f64) -> Self {
        let (k, dim, n) = (p.clusters, p.dim, p.n);
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
        let mut centres = vec![0f32; k * dim];
        let mut planes = vec![0f32; k * dim];
        for j in 0..k {
            let c = &mut centres[j * dim..(j + 1) * dim];
            c.iter_mut().for_each(|x| *x = rng.sample(StandardNormal));
            normalise(c);
            // A unit direction orthogonal to the centre: the plane the centre drifts in.
            let u = &mut planes[j * dim..(j + 1) * dim];
            u.iter_mut().for_each(|x| *x = rng.sample(StandardNormal));
            let proj: f32 = u.iter().zip(c.iter()).map(|(a, b)| a * b).sum();
            u.iter_mut().zip(c.iter()).for_each(|(a, b)| *a -= proj * b);
            normalise(u);
        }
        let weights: Vec<f64> = match p.sizes {
            Sizes::Equal => vec![1.0; k],
            Sizes::Zipf { exponent } => (0..k).map(|j| ((j + 1) as f64).powf(-exponent)).collect(),
        };
        let total: f64 = weights.iter().sum();
        let exact: Vec<f64> = weights.iter().map(|w| w / total * n as f64).collect();
        let mut sizes: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut rest = n - sizes.iter().sum::<usize>();
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| {
            let fa = exact[a] - exact[a].floor();
            let fb = exact[b] - exact[b].floor();
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        for &j in order.iter().cycle() {
            if rest == 0 {
                break;
            }
            sizes[j] += 1;
            rest -= 1;
        }
        let ends = sizes
            .iter()
            .scan(0, |acc, s| {
                *acc += s;
                Some(*acc)
            })
            .collect();
        let bits = (usize::BITS - (n.max(4) - 1).leading_zeros()).div_ceil(2);
        let keys = [0, 1, 2, 3].map(|r| splitmix(p.seed ^ splitmix(0xFE15_7E10 + r)));
        Self {
            sigma: sigma2.sqrt() as f32,
            p,
            centres,
            planes,
            ends,
            half_bits: bits,
            keys,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.p.n
    }
    /// Whether the stream has no rows (never: `check` requires `n ≥ 1`).
    pub fn is_empty(&self) -> bool {
        self.p.n == 0
    }
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.p.dim
    }
    /// The parameters.
    pub fn params(&self) -> &SynthParams {
        &self.p
    }
    /// The centres at row 0, `clusters × dim`.
    pub fn centres(&self) -> &[f32] {
        &self.centres
    }
    /// Rows per cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut prev = 0;
        self.ends
            .iter()
            .map(|&e| {
                let s = e - prev;
                prev = e;
                s
            })
            .collect()
    }

    /// Centre `j` as it is when row `row` is drawn.
    pub fn centre_at(&self, j: usize, row: usize) -> Vec<f32> {
        let dim = self.p.dim;
        let c = &self.centres[j * dim..(j + 1) * dim];
        if self.p.drift == 0.0 {
            return c.to_vec();
        }
        let theta = self.p.drift * row as f64 / self.p.drift_step as f64;
        let (s, co) = (theta.sin() as f32, theta.cos() as f32);
        c.iter()
            .zip(&self.planes[j * dim..(j + 1) * dim])
            .map(|(a, u)| co * a + s * u)
            .collect()
    }

    /// A keyed bijection on `0..n` (4-round Feistel network with cycle walking).
    fn permute(&self, i: usize) -> usize {
        let h = self.half_bits;
        let mask = (1u64 << h) - 1;
        let mut x = i as u64;
        loop {
            let (mut l, mut r) = (x >> h, x & mask);
            for key in self.keys {
                let f = splitmix(r ^ key) & mask;
                (l, r) = (r, l ^ f);
            }
            x = (l << h) | r;
            if (x as usize) < self.p.n {
                return x as usize;
            }
        }
    }

    /// The true cluster of row `i`.
    pub fn label(&self, i: usize) -> u32 {
        let pos = match self.p.order {
            Order::Blocked => i,
            Order::Shuffled => self.permute(i),
        };
        self.ends.partition_point(|&e| e <= pos) as u32
    }

    fn fill_row(&self, i: usize, label: u32, out: &mut [f32]) {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&splitmix(self.p.seed ^ 0x005E_ED0F_2075).to_le_bytes());
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(i as u64);
        let centre = self.centre_at(label as usize, i);
        for (o, c) in out.iter_mut().zip(centre) {
            let z: f32 = rng.sample(StandardNormal);
            *o = c + self.sigma * z;
        }
        normalise(out);
    }

    /// Rows `start..end` (clamped to the stream).
    pub fn rows(&self, start: usize, end: usize) -> SynthChunk {
        let end = end.min(self.p.n);
        let start = start.min(end);
        let dim = self.p.dim;
        let labels: Vec<u32> = (start..end)
            .into_par_iter()
            .map(|i| self.label(i))
            .collect();
        let mut data = vec![0f32; (end - start) * dim];
        data.par_chunks_mut(dim)
            .zip(&labels)
            .enumerate()
            .for_each(|(r, (row, &l))| {
                self.fill_row(start + r, l, row);
            });
        SynthChunk {
            start,
            data,
            labels,
        }
    }

    /// The whole stream as one matrix.
    pub fn generate(&self) -> SynthData {
        let c = self.rows(0, self.p.n);
        SynthData {
            dim: self.p.dim,
            data: c.data,
            labels: c.labels,
        }
    }

    /// The stream in chunks of `chunk_rows` rows (the last may be shorter; 0 is taken as 1).
    pub fn chunks(&self, chunk_rows: usize) -> impl Iterator<Item = SynthChunk> + '_ {
        let step = chunk_rows.max(1);
        (0..self.p.n)
            .step_by(step)
            .map(move |s| self.rows(s, s + step))
    }
}
