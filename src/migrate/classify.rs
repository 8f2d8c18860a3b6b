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
///
/// A concept keeps only its centroid and member count: a concept record that carries an `id`
/// or a `content` is a bad record (those fields would be lost), never imported without them.
/// An episode keeps both (see [`crate::Payload::legacy`]).
pub fn classify(r: &LegacyRecord) -> Result<Tier, String> {
    let tier = tier(r)?;
    if tier == Tier::Concept {
        let field = match (&r.id, &r.content) {
            (Some(_), _) => Some("id"),
            (None, Some(_)) => Some("content"),
            (None, None) => None,
        };
        if let Some(f) = field {
            return Err(format!(
                "a concept record cannot keep its `{f}` (a concept stores only its centroid and \
                 member count): remove the field, or import the record as an episode with \
                 \"kind\": \"episode\""
            ));
        }
    }
    Ok(tier)
}

fn tier(r: &LegacyRecord) -> Result<Tier, String> {
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
