//! The dual-tier graph on the host: episodes and concepts, bindings kept in both directions,
//! temporal links between consecutive episodes of a stream, and concept–concept links.
//!
//! Episodes are stored by arena row (rows are in ascending id order, so an id is found by
//! binary search and ties between equal scores break by id when they break by row). Every
//! edit is O(degree) (plus an O(log n) id lookup); only the sweeps named as such
//! ([`Graph::prune_bindings`], [`Graph::compact`]) visit everything.

use rustc_hash::FxHashMap;

use crate::memory::{
    Binding, Concept, ConceptId, Episode, EpisodeId, EpisodeMeta, MemoryNode, Payload,
};

const NONE: u64 = u64::MAX;

/// What the graph holds about one episode.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeNode {
    /// The caller's timestamp.
    pub timestamp: u64,
    /// The stream.
    pub stream: u64,
    /// Memory strength.
    pub strength: f32,
    /// The caller's confidence.
    pub confidence: f32,
    /// Replays and recalls so far.
    pub rehearsals: u32,
    /// Time of the last replay or recall.
    pub last_access: u64,
    prev: u64,
    next: u64,
    bindings: Vec<(ConceptId, f32)>,
    payload: Option<Box<Payload>>,
}

impl EpisodeNode {
    /// The payload, if any.
    pub fn payload(&self) -> Option<&Payload> {
        self.payload.as_deref()
    }
    /// The concepts this episode is bound to, with strengths.
    pub fn bindings(&self) -> &[(ConceptId, f32)] {
        &self.bindings
    }
    /// The previous episode of the same stream.
    pub fn prev(&self) -> Option<EpisodeId> {
        (self.prev != NONE).then_some(EpisodeId(self.prev))
    }
    /// The next episode of the same stream.
    pub fn next(&self) -> Option<EpisodeId> {
        (self.next != NONE).then_some(EpisodeId(self.next))
    }
}

/// What the graph holds about one concept.
#[derive(Debug, Clone)]
pub struct ConceptNode {
    /// The concept's record.
    pub concept: Concept,
    /// Its row in the concept arena.
    pub row: usize,
    members: FxHashMap<EpisodeId, f32>,
    links: Vec<(ConceptId, f32)>,
    /// Changes whenever an episode joins or leaves `members` (not when a strength changes).
    members_version: u64,
}

impl PartialEq for ConceptNode {
    /// Equal records, rows, members and links (the members' version is bookkeeping, not
    /// state: two graphs built in different orders hold equal nodes).
    fn eq(&self, other: &Self) -> bool {
        self.concept == other.concept
            && self.row == other.row
            && self.members == other.members
            && self.links == other.links
    }
}

impl ConceptNode {
    /// A number that changes whenever the set of bound episodes changes (binding strengths
    /// may change without it); derived per-concept data (a concept list) keyed by it is
    /// current while it is the same.
    pub fn members_version(&self) -> u64 {
        self.members_version
    }

    /// The episodes bound to this concept, with strengths (in no particular order).
    pub fn members(&self) -> impl Iterator<Item = (EpisodeId, f32)> + '_ {
        self.members.iter().map(|(e, s)| (*e, *s))
    }
    /// How many episodes are bound.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }
    /// Concept–concept links with weights.
    pub fn links(&self) -> &[(ConceptId, f32)] {
        &self.links
    }
}

/// The graph index of both tiers.
#[derive(Debug, Default)]
pub struct Graph {
    ep_ids: Vec<u64>,
    ep_nodes: Vec<Option<EpisodeNode>>,
    live_episodes: usize,
    concepts: FxHashMap<ConceptId, ConceptNode>,
    stream_tails: FxHashMap<u64, u64>,
    bindings: usize,
    /// The version handed out last ([`Graph::version`]).
    version: std::sync::atomic::AtomicU64,
    /// Whether the graph changed since that version was handed out.
    changed: std::sync::atomic::AtomicBool,
    /// The last [`ConceptNode::members_version`] handed out.
    member_epoch: u64,
    /// Structural changes so far other than membership changes (those bump `member_epoch`):
    /// episodes added or removed, concepts removed or handed out mutably, rows renumbered.
    structure: u64,
    /// This graph's identity (a fresh one per graph and per clone).
    uid: GraphUid,
}

/// A process-unique graph identity: fresh for every new graph and every clone.
#[derive(Debug)]
struct GraphUid(u64);

impl Default for GraphUid {
    fn default() -> Self {
        Self(VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl Clone for GraphUid {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Clone for Graph {
    fn clone(&self) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        Self {
            ep_ids: self.ep_ids.clone(),
            ep_nodes: self.ep_nodes.clone(),
            live_episodes: self.live_episodes,
            concepts: self.concepts.clone(),
            stream_tails: self.stream_tails.clone(),
            bindings: self.bindings,
            version: self.version.load(Relaxed).into(),
            changed: self.changed.load(Relaxed).into(),
            member_epoch: self.member_epoch,
            structure: self.structure,
            uid: self.uid.clone(),
        }
    }
}

/// The source of [`Graph::version`]s: unique across all graphs of the process.
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// A number that changes on every mutable access to the graph (each `&mut self` method,
    /// the `_mut` accessors included), unique across the graphs of the process; a clone
    /// keeps it until either copy changes. Derived data keyed by it (e.g. the GPU's CSR form
    /// for spreading activation) is current while the version is the same.
    pub fn version(&self) -> u64 {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
        // A mutation only marks the graph changed (cheap: it happens per node on hot paths);
        // the next reader takes a fresh number. Two readers racing may take two numbers for
        // the same state, which costs a rebuild of derived data, never a stale one.
        if self.changed.swap(false, AcqRel) || self.version.load(Acquire) == 0 {
            self.version.store(
                VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                Release,
            );
        }
        self.version.load(Acquire)
    }

    #[inline]
    fn touch(&mut self) {
        *self.changed.get_mut() = true;
    }

    /// Marks a structural change (see [`Graph::change_key`]).
    #[inline]
    fn reshape(&mut self) {
        self.structure = self.structure.wrapping_add(1);
    }

    /// A key that changes whenever the graph's structure changes — an episode added or
    /// removed, a concept added, removed or handed out mutably, a binding created or removed,
    /// rows renumbered — but not when strengths, timestamps or records change (a rehearsal, a
    /// decay), and that differs between graphs (and between a graph and its clones). Derived
    /// data about which episodes and concepts exist and are bound (the concept lists) is
    /// current while it is the same. Unlike [`Graph::version`], reading it changes nothing,
    /// so concurrent readers always agree.
    pub fn change_key(&self) -> (u64, u64) {
        (self.uid.0, self.member_epoch.wrapping_add(self.structure))
    }

    /// A fresh [`ConceptNode::members_version`].
    #[inline]
    fn next_members_version(&mut self) -> u64 {
        self.member_epoch += 1;
        self.member_epoch
    }

    /// Live episodes.
    pub fn episode_count(&self) -> usize {
        self.live_episodes
    }

    /// Episode slots, removed ones included (equals the episode arena's rows).
    pub fn episode_slots(&self) -> usize {
        self.ep_ids.len()
    }

    /// Live concepts.
    pub fn concept_count(&self) -> usize {
        self.concepts.len()
    }

    /// Bindings (each counted once).
    pub fn binding_count(&self) -> usize {
        self.bindings
    }

    /// The row of a live episode.
    pub fn episode_row(&self, id: EpisodeId) -> Option<usize> {
        // Until the first compaction an episode's row equals its id: check that slot first.
        let row = match usize::try_from(id.0)
            .ok()
            .filter(|&r| self.ep_ids.get(r) == Some(&id.0))
        {
            Some(r) => r,
            None => self.ep_ids.binary_search(&id.0).ok()?,
        };
        self.ep_nodes[row].is_some().then_some(row)
    }

    /// The id of the episode at `row`, if live.
    pub fn episode_at(&self, row: usize) -> Option<EpisodeId> {
        match self.ep_nodes.get(row) {
            Some(Some(_)) => Some(EpisodeId(self.ep_ids[row])),
            _ => None,
        }
    }

    /// The id stored at `row`, live or not.
    pub fn id_at_row(&self, row: usize) -> Option<EpisodeId> {
        self.ep_ids.get(row).map(|&i| EpisodeId(i))
    }

    /// The first row whose episode id is greater than `id` (ids grow with rows).
    pub fn first_row_after(&self, id: EpisodeId) -> usize {
        self.ep_ids.partition_point(|&x| x <= id.0)
    }

    /// The live episodes from row `row` on, as `(row, id, node)`.
    pub fn episodes_from(
        &self,
        row: usize,
    ) -> impl Iterator<Item = (usize, EpisodeId, &EpisodeNode)> + '_ {
        let row = row.min(self.ep_ids.len());
        self.ep_ids[row..]
            .iter()
            .zip(&self.ep_nodes[row..])
            .enumerate()
            .filter_map(move |(i, (&id, n))| n.as_ref().map(|n| (row + i, EpisodeId(id), n)))
    }

    /// The id of the last episode stored (live or removed but not yet compacted away).
    pub fn last_episode_id(&self) -> Option<EpisodeId> {
        self.ep_ids.last().map(|&x| EpisodeId(x))
    }

    /// The node of a live episode.
    pub fn episode_node(&self, id: EpisodeId) -> Option<&EpisodeNode> {
        self.episode_row(id).and_then(|r| self.ep_nodes[r].as_ref())
    }

    /// The node of a live episode, mutably.
    pub fn episode_node_mut(&mut self, id: EpisodeId) -> Option<&mut EpisodeNode> {
        self.touch();
        let r = self.episode_row(id)?;
        self.ep_nodes[r].as_mut()
    }

    /// The node at a row, mutably.
    pub fn node_at_mut(&mut self, row: usize) -> Option<&mut EpisodeNode> {
        self.touch();
        self.ep_nodes.get_mut(row).and_then(|n| n.as_mut())
    }

    /// The public record of a live episode.
    pub fn episode(&self, id: EpisodeId) -> Option<Episode> {
        self.episode_node(id).map(|n| Episode {
            id,
            timestamp: n.timestamp,
            stream: n.stream,
            strength: n.strength,
            confidence: n.confidence,
            rehearsals: n.rehearsals,
            last_access: n.last_access,
            payload: n.payload.as_deref().cloned(),
        })
    }

    /// Live episodes with their rows, in id order.
    pub fn episodes(&self) -> impl Iterator<Item = (usize, EpisodeId, &EpisodeNode)> + '_ {
        self.ep_nodes
            .iter()
            .enumerate()
            .filter_map(|(r, n)| n.as_ref().map(|n| (r, EpisodeId(self.ep_ids[r]), n)))
    }

    /// Appends an episode at the next row. Ids must grow; the episode is linked after the
    /// previous episode of its stream. Returns its row.
    pub fn push_episode(&mut self, id: EpisodeId, meta: EpisodeMeta, strength: f32) -> usize {
        self.touch();
        self.reshape();
        debug_assert!(self.ep_ids.last().is_none_or(|&l| l < id.0));
        let row = self.ep_ids.len();
        let prev = self.stream_tails.insert(meta.stream, id.0).unwrap_or(NONE);
        if prev != NONE {
            // The previous episode of the stream is usually the last one stored.
            let last = self.ep_ids.len().checked_sub(1);
            let node = match last {
                Some(r) if self.ep_ids[r] == prev => self.ep_nodes[r].as_mut(),
                _ => self.episode_node_mut(EpisodeId(prev)),
            };
            if let Some(p) = node {
                p.next = id.0;
            }
        }
        self.ep_ids.push(id.0);
        self.ep_nodes.push(Some(EpisodeNode {
            timestamp: meta.timestamp,
            stream: meta.stream,
            strength,
            confidence: meta.confidence,
            rehearsals: 0,
            last_access: meta.timestamp,
            prev,
            next: NONE,
            bindings: Vec::new(),
            payload: meta.payload.map(Box::new),
        }));
        self.live_episodes += 1;
        row
    }

    /// Removes an episode, its bindings and its temporal links (its neighbours are linked to
    /// each other). Returns its former row.
    pub fn remove_episode(&mut self, id: EpisodeId) -> Option<usize> {
        self.touch();
        self.reshape();
        let row = self.episode_row(id)?;
        let node = self.ep_nodes[row].take()?;
        self.live_episodes -= 1;
        for (c, _) in &node.bindings {
            self.member_epoch += 1;
            if let Some(cn) = self.concepts.get_mut(c) {
                cn.members.remove(&id);
                cn.members_version = self.member_epoch;
            }
            self.bindings -= 1;
        }
        if node.prev != NONE {
            if let Some(p) = self.episode_node_mut(EpisodeId(node.prev)) {
                p.next = node.next;
            }
        }
        if node.next != NONE {
            if let Some(n) = self.episode_node_mut(EpisodeId(node.next)) {
                n.prev = node.prev;
            }
        } else if self.stream_tails.get(&node.stream) == Some(&id.0) {
            if node.prev != NONE {
                self.stream_tails.insert(node.stream, node.prev);
            } else {
                self.stream_tails.remove(&node.stream);
            }
        }
        Some(row)
    }

    /// Adds a concept whose centroid is at `row` of the concept arena (replacing any concept
    /// with the same id, whose bindings are dropped).
    pub fn add_concept(&mut self, concept: Concept, row: usize) {
        self.touch();
        self.reshape();
        let id = concept.id;
        self.remove_concept(id);
        let members_version = self.next_members_version();
        self.concepts.insert(
            id,
            ConceptNode {
                concept,
                row,
                members: FxHashMap::default(),
                links: Vec::new(),
                members_version,
            },
        );
    }

    /// Removes a concept with its bindings and links. Returns its node.
    pub fn remove_concept(&mut self, id: ConceptId) -> Option<ConceptNode> {
        self.touch();
        self.reshape();
        let node = self.concepts.remove(&id)?;
        for e in node.members.keys() {
            if let Some(en) = self.episode_node_mut(*e) {
                en.bindings.retain(|(c, _)| *c != id);
            }
            self.bindings -= 1;
        }
        for (other, _) in &node.links {
            if let Some(o) = self.concepts.get_mut(other) {
                o.links.retain(|(c, _)| *c != id);
            }
        }
        Some(node)
    }

    /// A concept's node.
    pub fn concept_node(&self, id: ConceptId) -> Option<&ConceptNode> {
        self.concepts.get(&id)
    }

    /// A concept's node, mutably.
    pub fn concept_node_mut(&mut self, id: ConceptId) -> Option<&mut ConceptNode> {
        self.touch();
        // Its public `row` may change.
        self.reshape();
        self.concepts.get_mut(&id)
    }

    /// Every concept node (in no particular order).
    pub fn concepts(&self) -> impl Iterator<Item = &ConceptNode> + '_ {
        self.concepts.values()
    }

    /// The ids of every concept, ascending.
    pub fn concept_ids(&self) -> Vec<ConceptId> {
        let mut v: Vec<_> = self.concepts.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Sets the binding between an episode and a concept to `strength` (clamped to [0, 1]),
    /// creating it if needed. Returns false if either end does not exist.
    pub fn bind(&mut self, e: EpisodeId, c: ConceptId, strength: f32) -> bool {
        self.touch();
        let s = strength.clamp(0.0, 1.0);
        let Some(row) = self.episode_row(e) else {
            return false;
        };
        let Some(cn) = self.concepts.get_mut(&c) else {
            return false;
        };
        let Some(en) = self.ep_nodes[row].as_mut() else {
            return false;
        };
        if cn.members.insert(e, s).is_none() {
            self.member_epoch += 1;
            cn.members_version = self.member_epoch;
            self.bindings += 1;
            // Most episodes have one or two bindings: grow one slot at a time (a first `push`
            // would reserve four, 64 bytes per episode instead of 16).
            en.bindings.reserve_exact(1);
            en.bindings.push((c, s));
        } else if let Some(b) = en.bindings.iter_mut().find(|(x, _)| *x == c) {
            b.1 = s;
        }
        true
    }

    /// Multiplies every binding of each episode at `rows[i].0` by its factor `rows[i].1`
    /// (in `[0, 1]`), in both directions: the episodes' lists directly, the concepts' member
    /// maps in one pass each. Rows of removed episodes are skipped.
    pub fn scale_episode_bindings(&mut self, rows: &[(usize, f32)]) {
        self.touch();
        let mut by_id: FxHashMap<EpisodeId, f32> = FxHashMap::default();
        by_id.reserve(rows.len());
        let mut concepts: Vec<ConceptId> = Vec::new();
        for &(r, f) in rows {
            let f = f.clamp(0.0, 1.0);
            let (Some(&id), Some(Some(n))) = (self.ep_ids.get(r), self.ep_nodes.get_mut(r)) else {
                continue;
            };
            if n.bindings.is_empty() {
                continue;
            }
            for b in n.bindings.iter_mut() {
                b.1 *= f;
                concepts.push(b.0);
            }
            by_id.insert(EpisodeId(id), f);
        }
        concepts.sort_unstable();
        concepts.dedup();
        for c in concepts {
            if let Some(cn) = self.concepts.get_mut(&c) {
                for (e, s) in cn.members.iter_mut() {
                    if let Some(f) = by_id.get(e) {
                        *s *= f;
                    }
                }
            }
        }
    }

    /// The strength of a binding.
    pub fn binding(&self, e: EpisodeId, c: ConceptId) -> Option<f32> {
        self.concepts.get(&c)?.members.get(&e).copied()
    }

    /// Adds `delta` to a binding's strength (clamped to [0, 1]). Returns the new strength.
    pub fn strengthen(&mut self, e: EpisodeId, c: ConceptId, delta: f32) -> Option<f32> {
        self.touch();
        let s = (self.binding(e, c)? + delta).clamp(0.0, 1.0);
        self.bind(e, c, s);
        Some(s)
    }

    /// Removes one binding. Returns its strength.
    pub fn unbind(&mut self, e: EpisodeId, c: ConceptId) -> Option<f32> {
        self.touch();
        let cn = self.concepts.get_mut(&c)?;
        let s = cn.members.remove(&e)?;
        self.member_epoch += 1;
        cn.members_version = self.member_epoch;
        if let Some(en) = self.episode_node_mut(e) {
            en.bindings.retain(|(x, _)| *x != c);
        }
        self.bindings -= 1;
        Some(s)
    }

    /// Multiplies the strength of every binding of one concept by `factor`.
    pub fn scale_concept_bindings(&mut self, c: ConceptId, factor: f32) {
        self.touch();
        let Some(cn) = self.concepts.get_mut(&c) else {
            return;
        };
        let members: Vec<EpisodeId> = cn.members.keys().copied().collect();
        for s in cn.members.values_mut() {
            *s = (*s * factor).clamp(0.0, 1.0);
        }
        for e in members {
            let row = match self.ep_ids.binary_search(&e.0) {
                Ok(r) => r,
                Err(_) => continue,
            };
            if let Some(en) = self.ep_nodes[row].as_mut() {
                for b in en.bindings.iter_mut().filter(|(x, _)| *x == c) {
                    b.1 = (b.1 * factor).clamp(0.0, 1.0);
                }
            }
        }
    }

    /// Removes every binding weaker than `threshold` (a sweep over all bindings). Returns how
    /// many were removed.
    pub fn prune_bindings(&mut self, threshold: f32) -> usize {
        self.touch();
        let mut removed = 0;
        for cn in self.concepts.values_mut() {
            let before = cn.members.len();
            cn.members.retain(|_, s| *s >= threshold);
            if cn.members.len() != before {
                self.member_epoch += 1;
                cn.members_version = self.member_epoch;
            }
        }
        for en in self.ep_nodes.iter_mut().flatten() {
            let before = en.bindings.len();
            en.bindings.retain(|(_, s)| *s >= threshold);
            removed += before - en.bindings.len();
        }
        self.bindings -= removed;
        removed
    }

    /// Every binding, for export and checks.
    pub fn all_bindings(&self) -> Vec<Binding> {
        let mut v = Vec::with_capacity(self.bindings);
        for (_, e, n) in self.episodes() {
            for &(c, s) in &n.bindings {
                v.push(Binding {
                    episode: e,
                    concept: c,
                    strength: s,
                });
            }
        }
        v
    }

    /// Sets an undirected concept–concept link of weight `w` (both concepts must exist).
    pub fn link_concepts(&mut self, a: ConceptId, b: ConceptId, w: f32) -> bool {
        self.touch();
        if a == b || !self.concepts.contains_key(&a) || !self.concepts.contains_key(&b) {
            return false;
        }
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.concepts.get_mut(&x) {
                match n.links.iter_mut().find(|(c, _)| *c == y) {
                    Some(l) => l.1 = w,
                    None => n.links.push((y, w)),
                }
            }
        }
        true
    }

    /// The neighbours of a node across every kind of edge, with edge weights: bindings,
    /// temporal links (weight 1) and concept links.
    pub fn neighbours(&self, node: MemoryNode) -> Vec<(MemoryNode, f32)> {
        match node {
            MemoryNode::Episode(e) => {
                let Some(n) = self.episode_node(e) else {
                    return Vec::new();
                };
                let mut v: Vec<(MemoryNode, f32)> = n
                    .bindings
                    .iter()
                    .map(|&(c, s)| (MemoryNode::Concept(c), s))
                    .collect();
                v.extend(n.prev().map(|p| (MemoryNode::Episode(p), 1.0)));
                v.extend(n.next().map(|p| (MemoryNode::Episode(p), 1.0)));
                v
            }
            MemoryNode::Concept(c) => {
                let Some(n) = self.concepts.get(&c) else {
                    return Vec::new();
                };
                let mut v: Vec<(MemoryNode, f32)> = n
                    .members
                    .iter()
                    .map(|(&e, &s)| (MemoryNode::Episode(e), s))
                    .collect();
                v.sort_by_key(|a| a.0);
                v.extend(n.links.iter().map(|&(o, w)| (MemoryNode::Concept(o), w)));
                v
            }
        }
    }

    /// Drops the slots of removed episodes. Returns, for each old row, its new row; the
    /// episode arena must be compacted with the same map.
    pub fn compact(&mut self) -> Vec<Option<usize>> {
        self.touch();
        self.reshape();
        let mut remap = Vec::with_capacity(self.ep_ids.len());
        let mut ids = Vec::with_capacity(self.live_episodes);
        let mut nodes = Vec::with_capacity(self.live_episodes);
        for (id, n) in self.ep_ids.drain(..).zip(self.ep_nodes.drain(..)) {
            match n {
                Some(n) => {
                    remap.push(Some(ids.len()));
                    ids.push(id);
                    nodes.push(Some(n));
                }
                None => remap.push(None),
            }
        }
        self.ep_ids = ids;
        self.ep_nodes = nodes;
        remap
    }

    /// Renumbers concept rows after the concept arena was compacted.
    pub fn remap_concept_rows(&mut self, remap: &[Option<usize>]) {
        self.touch();
        self.reshape();
        for n in self.concepts.values_mut() {
            if let Some(Some(r)) = remap.get(n.row) {
                n.row = *r;
            }
        }
    }

    /// Checks every invariant: both directions of every binding agree, no reference dangles,
    /// temporal links are mutual, counts match. Returns the first violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.ep_ids.windows(2).any(|w| w[0] >= w[1]) {
            return Err("episode ids are not strictly ascending by row".into());
        }
        let mut bindings = 0;
        let mut live = 0;
        for (_, e, n) in self.episodes() {
            live += 1;
            for &(c, s) in &n.bindings {
                bindings += 1;
                let Some(cn) = self.concepts.get(&c) else {
                    return Err(format!("{e} is bound to missing {c}"));
                };
                match cn.members.get(&e) {
                    Some(&s2) if s2 == s => {}
                    other => return Err(format!("{e}->{c} = {s} but {c}->{e} = {other:?}")),
                }
            }
            for (dir, other) in [("prev", n.prev()), ("next", n.next())] {
                if let Some(o) = other {
                    let Some(on) = self.episode_node(o) else {
                        return Err(format!("{e}.{dir} points to missing {o}"));
                    };
                    let back = if dir == "prev" { on.next() } else { on.prev() };
                    if back != Some(e) {
                        return Err(format!("{e}.{dir} = {o} but not back"));
                    }
                }
            }
        }
        for cn in self.concepts.values() {
            let c = cn.concept.id;
            for (&e, &s) in &cn.members {
                let Some(en) = self.episode_node(e) else {
                    return Err(format!("{c} has missing member {e}"));
                };
                if !en.bindings.iter().any(|&(x, s2)| x == c && s2 == s) {
                    return Err(format!("{c}->{e} has no matching episode side"));
                }
            }
            for (o, _) in &cn.links {
                let Some(on) = self.concepts.get(o) else {
                    return Err(format!("{c} links to missing {o}"));
                };
                if !on.links.iter().any(|(x, _)| *x == c) {
                    return Err(format!("{c}-{o} link is one-sided"));
                }
            }
        }
        if live != self.live_episodes {
            return Err(format!("live count {} != {}", self.live_episodes, live));
        }
        if bindings != self.bindings {
            return Err(format!("binding count {} != {}", self.bindings, bindings));
        }
        Ok(())
    }

    /// Removes the undirected link between two concepts. Returns whether it existed.
    pub fn unlink_concepts(&mut self, a: ConceptId, b: ConceptId) -> bool {
        self.touch();
        let mut found = false;
        for (x, y) in [(a, b), (b, a)] {
            if let Some(n) = self.concepts.get_mut(&x) {
                let before = n.links.len();
                n.links.retain(|(c, _)| *c != y);
                found |= n.links.len() != before;
            }
        }
        found
    }
}
