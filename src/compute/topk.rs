//! A bounded, mergeable top-k selection with a total, deterministic order.
//!
//! Results are ordered by score descending, then id ascending. The same order is used by every
//! backend, so CPU and GPU agree on ids even when scores tie exactly.

use std::cmp::Ordering;

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

/// Keeps the best `k` hits seen so far.
///
/// A reservoir rather than a heap (as faiss's reservoir top-N): hits that reach the entry
/// [`threshold`](TopK::threshold) are appended to a buffer of up to `2k`; when it is full, one
/// selection (`select_nth_unstable`, O(k)) keeps the best `k` and raises the threshold to the
/// `k`-th best score. Each offered hit costs one compare and, if it enters, one append —
/// O(1) amortised instead of a heap's O(log k) — which is what keeps a large `k` (50–200, as
/// retrieval-augmented applications ask) near the speed of a small one.
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
///
/// [`TopK::unique`] makes a selection that may be offered the same id more than once (an
/// episode bound to two probed concepts is scored in both lists): it keeps each id's best hit
/// and counts distinct ids only.
#[derive(Debug, Clone, Default)]
pub struct TopK {
    k: usize,
    /// Candidates, unordered: after the first selection the best `k` seen are among them.
    buf: Vec<Hit>,
    /// Every hit below this score is known to rank below `k` others.
    thr: f32,
    /// The buffer length at which the next selection runs (`k` first, then `2k`).
    select_at: usize,
    /// Whether an id may be offered more than once (each id's best hit is kept).
    unique: bool,
    /// For a unique selection: where each buffered id sits in `buf`, an open-addressing table
    /// (`(id, index)`, `EMPTY` id for a free slot) at most half full, rebuilt by each
    /// selection. An id offered again updates its entry in place, so `buf` never holds an id
    /// twice.
    slots: Vec<(u64, u32)>,
}

/// A free slot of [`TopK`]'s id table (no engine id reaches it: ids are counters).
const EMPTY: u64 = u64::MAX;

impl TopK {
    /// An empty selection of at most `k` hits.
    pub fn new(k: usize) -> Self {
        Self {
            k,
            buf: Vec::with_capacity(k.saturating_mul(2).min(1 << 16)),
            thr: f32::NEG_INFINITY,
            select_at: k.max(1),
            unique: false,
            slots: Vec::new(),
        }
    }

    /// An empty selection of at most `k` distinct ids, each with the best score it was
    /// offered. The threshold is then the `k`-th best score among
    /// distinct ids, so a hit below it still cannot enter.
    pub fn unique(k: usize) -> Self {
        let mut t = Self {
            unique: true,
            ..Self::new(k)
        };
        t.rebuild_slots();
        t
    }

    /// Sizes the id table for the buffer's next fill (up to `select_at` ids, at most half
    /// full) and indexes the ids buffered now.
    fn rebuild_slots(&mut self) {
        let want = (self.select_at.max(self.buf.len()) * 2)
            .next_power_of_two()
            .max(16);
        if self.slots.len() != want {
            self.slots = vec![(EMPTY, 0); want];
        } else {
            self.slots.fill((EMPTY, 0));
        }
        for i in 0..self.buf.len() {
            let id = self.buf[i].id;
            let s = self.slot_of(id);
            self.slots[s] = (id, i as u32);
        }
    }

    /// The slot holding `id`, or the free slot where it would go.
    #[inline]
    fn slot_of(&self, id: u64) -> usize {
        let mask = self.slots.len() - 1;
        // Fibonacci hashing: consecutive ids spread over the table.
        let mut s = (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask;
        loop {
            let (x, _) = self.slots[s];
            if x == id || x == EMPTY {
                return s;
            }
            s = (s + 1) & mask;
        }
    }

    /// The capacity `k`.
    pub fn k(&self) -> usize {
        self.k
    }

    /// How many hits are held (at most `k`; in a [`TopK::unique`] selection an id offered
    /// twice since the last selection counts twice).
    pub fn len(&self) -> usize {
        self.buf.len().min(self.k)
    }

    /// Whether no hit is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() || self.k == 0
    }

    /// Whether `k` hits are held, so a new hit must beat the worst of them to enter.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.buf.len() >= self.k
    }

    /// A score every hit that can still enter reaches: `-inf` until `k` hits were offered,
    /// then the `k`-th best score as of the last selection — a lower bound of the current
    /// `k`-th best that rises as hits arrive. A hit below it is certainly out; one at or
    /// above it may still lose to the `k` best (ties go to the lower id).
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.thr
    }

    /// The worst of the `k` best hits, if `k` are held (a selection over the buffer: O(k)).
    pub fn worst(&self) -> Option<Hit> {
        let mut v = self.buf.clone();
        if v.len() < self.k || self.k == 0 {
            return None;
        }
        let (_, worst, _) = v.select_nth_unstable_by(self.k - 1, Hit::rank_cmp);
        Some(*worst)
    }

    /// Offers one hit. A NaN score ranks above every number (the order is `f32::total_cmp`'s);
    /// the engine never offers one (its rows and queries are finite).
    #[inline]
    pub fn push(&mut self, score: f32, id: u64) {
        if score < self.thr || self.k == 0 {
            return;
        }
        if self.unique && id != EMPTY {
            let s = self.slot_of(id);
            let (x, i) = self.slots[s];
            if x == id {
                // Offered again: keep the better of the two.
                let h = &mut self.buf[i as usize];
                if score > h.score {
                    h.score = score;
                }
                return;
            }
            self.slots[s] = (id, self.buf.len() as u32);
        }
        self.buf.push(Hit { score, id });
        // Select when the buffer first holds k (so the threshold filters from then on), then
        // each time it holds 2k.
        if self.buf.len() >= self.select_at {
            self.select();
        }
    }

    /// Keeps the best `k` of the buffer (of distinct ids, if unique) and sets the threshold to
    /// the `k`-th best score; the next selection runs `k` appends later (amortised O(1) per
    /// append; a unique selection re-indexes the `k` it kept).
    fn select(&mut self) {
        if self.unique {
            // The buffer holds each id once (see `slots`); only the id `EMPTY` (never an
            // engine id) can repeat.
            dedup_ids(&mut self.buf);
        }
        if self.buf.len() >= self.k && self.k > 0 {
            // The k-th best lands at k − 1, the better ones before it: keep those k.
            let (_, kth, _) = self.buf.select_nth_unstable_by(self.k - 1, Hit::rank_cmp);
            let worst = kth.score;
            self.buf.truncate(self.k);
            if worst > self.thr {
                self.thr = worst;
            }
        }
        self.select_at = self.buf.len() + self.k.max(1);
        if self.unique {
            self.rebuild_slots();
        }
    }

    /// Offers every hit of another selection (the merge of two partial results).
    pub fn merge(&mut self, other: TopK) {
        for h in other.buf {
            self.push(h.score, h.id);
        }
    }

    /// Offers every hit of a slice.
    pub fn extend_hits(&mut self, hits: &[Hit]) {
        for h in hits {
            self.push(h.score, h.id);
        }
    }

    /// The hits, best first (score descending, then id ascending).
    pub fn into_sorted_vec(mut self) -> Vec<Hit> {
        if self.unique {
            dedup_ids(&mut self.buf);
        }
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k, Hit::rank_cmp);
            self.buf.truncate(self.k);
        }
        self.buf.sort_unstable_by(Hit::rank_cmp);
        self.buf
    }
}

/// Keeps one hit with the id `EMPTY` (the best), the only id the table of a unique selection
/// does not index; the others are already distinct.
fn dedup_ids(buf: &mut Vec<Hit>) {
    let mut best: Option<Hit> = None;
    buf.retain(|h| {
        if h.id != EMPTY {
            return true;
        }
        if best.is_none_or(|b| h.ranks_before(&b)) {
            best = Some(*h);
        }
        false
    });
    buf.extend(best);
}

/// Merges several partial results into the best `k`, in result order.
pub fn merge_sorted(parts: impl IntoIterator<Item = Vec<Hit>>, k: usize) -> Vec<Hit> {
    let mut t = TopK::new(k);
    for p in parts {
        t.extend_hits(&p);
    }
    t.into_sorted_vec()
}
