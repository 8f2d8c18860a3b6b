//! The dual memory model: episodes, concepts, the bindings between them, and node handles.

use std::fmt;

/// The id of an episode. Ids grow monotonically and are never reused, even after a forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EpisodeId(pub u64);

/// The id of a concept. A concept keeps its id across consolidation cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConceptId(pub u64);

impl fmt::Display for EpisodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}
impl fmt::Display for ConceptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A small payload the caller attaches to an episode and gets back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Payload {
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A UTF-8 string.
    Text(String),
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::Text(s.to_owned())
    }
}
impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::Text(s)
    }
}
impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Bytes(b)
    }
}

impl Payload {
    /// The payload of an imported legacy record that carried an `id` (and maybe `content`):
    /// the text `{"legacy_id": id, "content": content}` (JSON; `content` left out when
    /// absent), so neither field is lost. A record with only `content` keeps it as plain
    /// [`Payload::Text`].
    pub fn legacy(id: &str, content: Option<&str>) -> Self {
        let mut o = serde_json::Map::new();
        o.insert("legacy_id".into(), serde_json::Value::from(id));
        if let Some(c) = content {
            o.insert("content".into(), serde_json::Value::from(c));
        }
        Payload::Text(serde_json::Value::Object(o).to_string())
    }

    /// The legacy id and content of a payload made by [`Payload::legacy`]; `None` for any
    /// other payload.
    pub fn as_legacy(&self) -> Option<(String, Option<String>)> {
        let Payload::Text(t) = self else { return None };
        if !t.starts_with('{') || !t.contains("\"legacy_id\"") {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(t).ok()?;
        let o = v.as_object()?;
        if o.keys().any(|k| k != "legacy_id" && k != "content") {
            return None;
        }
        let id = o.get("legacy_id")?.as_str()?.to_owned();
        let content = match o.get("content") {
            None => None,
            Some(c) => Some(c.as_str()?.to_owned()),
        };
        Some((id, content))
    }
}

/// What the caller says about an episode when storing it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EpisodeMeta {
    /// The caller's clock (any monotonic unit; the engine never reads the wall clock).
    pub timestamp: u64,
    /// How sure the caller is of this memory, in [0, 1]. Default 1.
    pub confidence: f32,
    /// The stream the episode belongs to: consecutive episodes of one stream are linked
    /// as temporal neighbours. Default 0.
    pub stream: u64,
    /// An optional payload.
    pub payload: Option<Payload>,
}

impl Default for EpisodeMeta {
    fn default() -> Self {
        Self {
            timestamp: 0,
            confidence: 1.0,
            stream: 0,
            payload: None,
        }
    }
}

impl EpisodeMeta {
    /// Metadata with this timestamp and defaults otherwise.
    pub fn at(timestamp: u64) -> Self {
        Self {
            timestamp,
            ..Self::default()
        }
    }

    /// Sets the payload.
    pub fn with_payload(mut self, payload: impl Into<Payload>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// Sets the stream.
    pub fn with_stream(mut self, stream: u64) -> Self {
        self.stream = stream;
        self
    }

    /// Sets the confidence.
    pub fn with_confidence(mut self, confidence: f32) -> Self {
        self.confidence = confidence;
        self
    }
}

/// A stored episode (its embedding is read with [`crate::Engram::embedding`]).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Episode {
    /// Its id.
    pub id: EpisodeId,
    /// The caller's timestamp.
    pub timestamp: u64,
    /// Its stream.
    pub stream: u64,
    /// Memory strength: decays with time, rises when recalled or replayed.
    pub strength: f32,
    /// The caller's confidence.
    pub confidence: f32,
    /// How many times it was replayed or recalled.
    pub rehearsals: u32,
    /// The caller's time of the last replay or recall (the timestamp until then).
    pub last_access: u64,
    /// The payload, if any.
    pub payload: Option<Payload>,
}

/// The lifecycle state of a concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConceptState {
    /// Newly formed; fades unless later cycles confirm it.
    Proto,
    /// Confirmed by repeated cycles; stable.
    Promoted,
}

/// A concept: a cluster of episodes with a centroid (read with [`crate::Engram::centroid`]).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Concept {
    /// Its id, stable across cycles.
    pub id: ConceptId,
    /// Mean cosine of its members to the centroid, in [-1, 1].
    pub coherence: f32,
    /// How many episodes were assigned to it when last formed or updated.
    pub members: u64,
    /// Concept strength: decays, rises when confirmed or recalled.
    pub strength: f32,
    /// Proto or promoted.
    pub state: ConceptState,
    /// How many cycles found it again (1 when formed).
    pub confirmations: u32,
    /// The cycle it was formed in.
    pub formed_cycle: u64,
    /// The cycle it was last updated in.
    pub updated_cycle: u64,
}

/// A weighted link between an episode and a concept.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Binding {
    /// The episode.
    pub episode: EpisodeId,
    /// The concept.
    pub concept: ConceptId,
    /// Strength in [0, 1].
    pub strength: f32,
}

/// A node of either tier, for APIs that return either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MemoryNode {
    /// An episode.
    Episode(EpisodeId),
    /// A concept.
    Concept(ConceptId),
}

impl MemoryNode {
    /// The tier's name: `"episode"` or `"concept"` (as the CLI's JSON and the Python hits
    /// call it).
    pub fn kind(&self) -> &'static str {
        match self {
            MemoryNode::Episode(_) => "episode",
            MemoryNode::Concept(_) => "concept",
        }
    }

    /// The id's number within its tier.
    pub fn raw_id(&self) -> u64 {
        match self {
            MemoryNode::Episode(e) => e.0,
            MemoryNode::Concept(c) => c.0,
        }
    }
}

impl From<EpisodeId> for MemoryNode {
    fn from(id: EpisodeId) -> Self {
        MemoryNode::Episode(id)
    }
}
impl From<ConceptId> for MemoryNode {
    fn from(id: ConceptId) -> Self {
        MemoryNode::Concept(id)
    }
}
