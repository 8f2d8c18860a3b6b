//! A bounded, mergeable top-k selection with a total, deterministic order.
//!
//! Results are ordered by score descending, then id ascending. The same order is used by every
//! backend, so CPU and GPU agree on ids even when scores tie exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One search result: a score and the id of what scored it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Hit {
    /// The similarity (cosine, as rows are unit length).
    pub score: f32,
    /// The id of the row, episode or concept that scored it.
    pub id: u64,
}

impl Hit {
    /// The result order: `Less` means `self` ranks before `other`
    /// (higher score first, then lower id).
    #[inline]
    pub fn rank_cmp(&self, other: &Hit) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.id.cmp(&other.id))
    }

    /// Whether `self` ranks strictly before `other`.
    #[inline]
    pub fn ranks_before(&self, other: &Hit) -> bool {
        self.score > other.score || (self.score == other.score && self.id < other.id)
    }
}

/// Heap entry ordered so that the *worst* hit is the maximum (the heap's top).
#[derive(Debug, Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.rank_cmp(&other.0)
    }
}

/// Keeps the best `k` hits seen so far.
///
/// ```
/// use engram::compute::TopK;
/// let mut t = TopK::new(2);
/// t.push(0.5, 7);
/// t.push(0.9, 3);
/// t.push(0.5, 1);
/// let hits = t.into_sorted_vec();
/// assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![3, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    /// An empty selection of at most `k` hits.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
        }
    }

    /// The capacity `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// How many hits are held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no hit is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Whether `k` hits are held, so a new hit must beat [`TopK::worst`] to enter.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.heap.len() >= self.k
    }

    /// The score a new hit must reach to be considered: `-inf` until full.
    #[inline]
    pub fn threshold(&self) -> f32 {
        if self.is_full() {
            self.heap.peek().map_or(f32::NEG_INFINITY, |w| w.0.score)
        } else {
            f32::NEG_INFINITY
        }
    }

    /// The worst hit held, if full.
    #[inline]
    pub fn worst(&self) -> Option<Hit> {
        if self.is_full() {
            self.heap.peek().map(|w| w.0)
        } else {
            None
        }
    }

    /// Offers one hit.
    #[inline]
    pub fn push(&mut self, score: f32, id: u64) {
        let hit = Hit { score, id };
        if self.heap.len() < self.k {
            self.heap.push(Worst(hit));
        } else if let Some(mut top) = self.heap.peek_mut() {
            if hit.ranks_before(&top.0) {
                *top = Worst(hit);
            }
        }
    }

    /// Offers every hit of another selection (the merge of two partial results).
    pub fn merge(&mut self, other: TopK) {
        for w in other.heap {
            self.push(w.0.score, w.0.id);
        }
    }

    /// Offers every hit of a slice.
    pub fn extend_hits(&mut self, hits: &[Hit]) {
        for h in hits {
            self.push(h.score, h.id);
        }
    }

    /// The hits, best first (score descending, then id ascending).
    pub fn into_sorted_vec(self) -> Vec<Hit> {
        // `into_sorted_vec` sorts ascending by `Ord`, and `Ord` puts the best first.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}

/// Merges several partial results into the best `k`, in result order.
pub fn merge_sorted(parts: impl IntoIterator<Item = Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut t = TopK::new(k);
    for p in parts {
        t.extend_hits(&p);
    }
    t.into_sorted_vec()
}
