//! Which tier a legacy memory goes to.

use super::source::LegacyRecord;

/// The tier a record is imported into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// An episode (embedding, timestamp, confidence, content as payload).
    Episode,
    /// A concept (embedding as centroid, member count).
    Concept,
}

/// Classifies a record. The rule, in order:
///
/// 1. an explicit `kind` of `"episode"` or `"concept"` (any case) wins; any other `kind` is
///    a bad record;
/// 2. a record with a `members` or `count` field, or `"summary": true`, or content starting
///    with `Summary:` or `[summary]` (any case) summarises several memories: a concept;
/// 3. anything else is an episode.
pub fn classify(r: &LegacyRecord) -> Result<Tier, String> {
    if let Some(k) = &r.kind {
        return match k.to_ascii_lowercase().as_str() {
            "episode" => Ok(Tier::Episode),
            "concept" => Ok(Tier::Concept),
            other => Err(format!(
                "unknown kind {other:?} (expected \"episode\" or \"concept\")"
            )),
        };
    }
    let flagged = r.content.as_deref().is_some_and(|c| {
        let c = c.trim_start().to_ascii_lowercase();
        c.starts_with("summary:") || c.starts_with("[summary]")
    });
    if r.members.is_some() || r.summary || flagged {
        Ok(Tier::Concept)
    } else {
        Ok(Tier::Episode)
    }
}
