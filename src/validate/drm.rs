//! False memory in the DRM paradigm (Deese 1959; Roediger & McDermott 1995).
//!
//! Protocol — the engine never sees a lure:
//!
//! 1. **Study**: the 15 studied words of every list are stored as episodes (list `j` is stream
//!    `j`, one time step per word). Lures are never stored.
//! 2. **Consolidate** after each list (lists are studied one at a time, as in Roediger &
//!    McDermott 1995): one [`Engram::consolidate`] cycle at the end of each list, with the
//!    engine's default [`ClusterCount::Discover`] (the engine is not told how many concepts to
//!    form) and the settings of [`drm_consolidation`]. The first cycle forms a concept from
//!    the first list; each later cycle assigns the new list's words to the known concepts,
//!    discovers a new concept among the words no concept explains, and replays older words.
//! 3. **Free recall**, per list: the cue is the list's study context — the normalised mean of
//!    its *studied* vectors. [`Engram::recall_view`] (blended, k = 15) with pattern completion
//!    at the configured threshold returns stored episodes and, when no episode matches the
//!    context well, a reconstruction (the echo of the cue over the probed concept's members,
//!    close to its centroid) as a reconstructed memory (1 concept probed). The **scorer**
//!    counts the lure as recalled when a reconstruction is closer to the lure than to every
//!    studied word of every list. A stricter decoding (the reconstruction's nearest word in
//!    lexicon ∪ studied ∪ lures is the lure) is reported too. Only the scorer knows the lures.
//! 4. **Recognition**: [`Engram::familiarity`] of every studied word, every lure, and of
//!    unrelated new words (every 25th lexicon word that is neither studied nor a lure); the
//!    rates of "old" judgements are compared.
//!
//! Pass: lure recall in [0.40, 0.65]; lures called old at least 60 % of the time and within
//! 0.3 of the studied words' rate; unrelated words called old less than 20 % of the time.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{normalize, r3, DrmData, ExperimentResult, Lexicon, ValidateError};
use crate::config::Config;
use crate::consolidation::{ClusterCount, ConsolidationConfig};
use crate::engine::Engram;
use crate::memory::{EpisodeId, EpisodeMeta};
use crate::recall::{RecallMode, RecallParams};

/// Parameters of the DRM experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct DrmParams {
    /// Directory laid out like `data/drm`.
    pub drm_dir: PathBuf,
    /// Directory laid out like `data/lexicon` (decoding vocabulary and unrelated words).
    pub lexicon_dir: PathBuf,
    /// Seed of concept formation.
    pub seed: u64,
}

impl DrmParams {
    /// Defaults for these directories (seed 7).
    pub fn new(drm_dir: &Path, lexicon_dir: &Path) -> Self {
        Self {
            drm_dir: drm_dir.to_owned(),
            lexicon_dir: lexicon_dir.to_owned(),
            seed: 7,
        }
    }
}

/// The consolidation settings of the experiment: the defaults (number of concepts
/// discovered) with this seed.
pub fn drm_consolidation(seed: u64) -> ConsolidationConfig {
    ConsolidationConfig::default()
        .seed(seed)
        .clusters(ClusterCount::Discover { max_k: None })
}

/// The measured rates.
#[derive(Debug, Clone, PartialEq)]
pub struct DrmFigures {
    /// Lists whose lure was recalled (by name).
    pub lures_recalled: Vec<String>,
    /// Share of lists whose lure was recalled.
    pub lure_recall: f64,
    /// Share of lists whose lure was recalled under the stricter decoding: the
    /// reconstruction's nearest word in lexicon ∪ studied ∪ lures is the lure.
    pub lure_recall_lexicon: f64,
    /// Share of recalled episodes (top 15 for the list context) that are studied words of
    /// that list.
    pub studied_recall_precision: f64,
    /// Rate of "old" for studied words.
    pub studied_old: f64,
    /// Rate of "old" for lures.
    pub lure_old: f64,
    /// Rate of "old" for unrelated new words.
    pub unrelated_old: f64,
    /// Unrelated words tested.
    pub unrelated_tested: usize,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Runs the protocol.
pub fn measure(p: &DrmParams) -> Result<DrmFigures, ValidateError> {
    let data = DrmData::load(&p.drm_dir)?;
    let dim = data.dim;
    let lex = Lexicon::load(&p.lexicon_dir, dim)?;
    let mut mem = Engram::new(
        Config::new(dim)
            .backend(super::backend())
            .consolidation(drm_consolidation(p.seed)),
    )?;
    let list_of = study(&mut mem, &data)?;
    let (vocab, list_words) = scorer_vocabulary(&data, &lex);
    let recall = free_recall(&mem, &data, &vocab, &list_of)?;
    let recognition = recognition(&mem, &data, &lex, &list_words)?;
    Ok(DrmFigures {
        lure_recall: recall.recalled.len() as f64 / data.lists.len() as f64,
        lures_recalled: recall.recalled,
        lure_recall_lexicon: recall.recalled_lex.len() as f64 / data.lists.len() as f64,
        studied_recall_precision: recall.own as f64 / recall.episodes.max(1) as f64,
        studied_old: recognition.studied_old,
        lure_old: recognition.lure_old,
        unrelated_old: recognition.unrelated_old,
        unrelated_tested: recognition.unrelated_tested,
    })
}

/// Steps 1 and 2: stores the studied words of every list (list `j` is stream `j`, one time
/// step per word) and consolidates after each list. Returns each episode's list.
fn study(mem: &mut Engram, data: &DrmData) -> Result<HashMap<EpisodeId, usize>, ValidateError> {
    let dim = data.dim;
    // 1. Study.
    let mut list_of = HashMap::new();
    let mut t = 0u64;
    for (j, l) in data.lists.iter().enumerate() {
        for row in l.studied_vectors.chunks_exact(dim) {
            t += 1;
            let id = mem.remember(row, EpisodeMeta::at(t).with_stream(j as u64))?;
            list_of.insert(id, j);
        }
        // 2. Consolidate the list just studied.
        mem.consolidate(t)?;
    }
    Ok(list_of)
}

/// The scorer's vocabulary: lexicon ∪ studied ∪ lures, deduplicated by spelling (lures and
/// studied words first), and the words of the lists (studied and lures).
fn scorer_vocabulary(data: &DrmData, lex: &Lexicon) -> (Vec<(String, Vec<f32>)>, HashSet<String>) {
    let dim = data.dim;
    let mut vocab: Vec<(String, Vec<f32>)> = Vec::new();
    let mut seen = HashSet::new();
    for l in &data.lists {
        if seen.insert(l.lure.clone()) {
            vocab.push((l.lure.clone(), l.lure_vector.clone()));
        }
        for (w, v) in l.studied.iter().zip(l.studied_vectors.chunks_exact(dim)) {
            if seen.insert(w.clone()) {
                vocab.push((w.clone(), v.to_vec()));
            }
        }
    }
    let list_words: HashSet<String> = seen.clone();
    for (i, w) in lex.words.iter().enumerate() {
        if seen.insert(w.clone()) {
            vocab.push((w.clone(), lex.vector(i).to_vec()));
        }
    }
    (vocab, list_words)
}

/// What free recall of every list found.
struct FreeRecall {
    /// Lists whose lure was recalled (a reconstruction closer to the lure than to every
    /// studied word).
    recalled: Vec<String>,
    /// Lists whose lure was recalled under the stricter decoding.
    recalled_lex: Vec<String>,
    /// Recalled episodes that are studied words of the cued list.
    own: usize,
    /// Recalled episodes.
    episodes: usize,
}

/// Step 3: free recall of every list, cued by its study context (the normalised mean of its
/// studied vectors).
fn free_recall(
    mem: &Engram,
    data: &DrmData,
    vocab: &[(String, Vec<f32>)],
    list_of: &HashMap<EpisodeId, usize>,
) -> Result<FreeRecall, ValidateError> {
    let dim = data.dim;
    let decode = |v: &[f32]| -> &str {
        vocab
            .iter()
            .map(|(w, x)| (dot(v, x), w))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or("", |x| x.1.as_str())
    };
    // 3. Free recall.
    let params = RecallParams::new(15)
        .mode(RecallMode::Blended)
        .with_completion()
        .probes(1);
    let mut recalled = Vec::new();
    let mut recalled_lex = Vec::new();
    let (mut own, mut episodes) = (0usize, 0usize);
    for (j, l) in data.lists.iter().enumerate() {
        let mut cue = vec![0.0f32; dim];
        for row in l.studied_vectors.chunks_exact(dim) {
            cue.iter_mut().zip(row).for_each(|(c, x)| *c += x);
        }
        normalize(&mut cue);
        let hits = mem.recall_view(&cue, &params)?;
        let mut got = false;
        let mut got_lex = false;
        for h in &hits {
            match (&h.reconstruction, h.node) {
                (Some(r), _) => {
                    got_lex |= decode(r) == l.lure;
                    let to_lure = dot(r, &l.lure_vector);
                    got |= data.lists.iter().all(|o| {
                        o.studied_vectors
                            .chunks_exact(dim)
                            .all(|w| dot(r, w) < to_lure)
                    });
                }
                (None, crate::memory::MemoryNode::Episode(e)) => {
                    episodes += 1;
                    own += usize::from(list_of.get(&e) == Some(&j));
                }
                _ => {}
            }
        }
        if got {
            recalled.push(l.name.clone());
        }
        if got_lex {
            recalled_lex.push(l.name.clone());
        }
    }
    Ok(FreeRecall {
        recalled,
        recalled_lex,
        own,
        episodes,
    })
}

/// The rates of "old" judgements of recognition.
struct Recognition {
    studied_old: f64,
    lure_old: f64,
    unrelated_old: f64,
    unrelated_tested: usize,
}

/// Step 4: recognition of every studied word, every lure and unrelated new words (every 25th
/// lexicon word that is not a word of the lists).
fn recognition(
    mem: &Engram,
    data: &DrmData,
    lex: &Lexicon,
    list_words: &HashSet<String>,
) -> Result<Recognition, ValidateError> {
    let dim = data.dim;
    // 4. Recognition.
    let rate = |cues: &mut dyn Iterator<Item = &[f32]>| -> Result<(f64, usize), ValidateError> {
        let (mut old, mut n) = (0usize, 0usize);
        for c in cues {
            old += usize::from(mem.familiarity(c)?.old);
            n += 1;
        }
        Ok((old as f64 / n.max(1) as f64, n))
    };
    let (studied_old, _) = rate(
        &mut data
            .lists
            .iter()
            .flat_map(|l| l.studied_vectors.chunks_exact(dim)),
    )?;
    let (lure_old, _) = rate(&mut data.lists.iter().map(|l| l.lure_vector.as_slice()))?;
    let unrelated: Vec<usize> = (0..lex.len())
        .step_by(25)
        .filter(|&i| !list_words.contains(&lex.words[i]))
        .collect();
    let (unrelated_old, unrelated_tested) = rate(&mut unrelated.iter().map(|&i| lex.vector(i)))?;
    Ok(Recognition {
        studied_old,
        lure_old,
        unrelated_old,
        unrelated_tested,
    })
}

/// Runs the experiment and scores it.
pub fn run(p: &DrmParams) -> Result<ExperimentResult, ValidateError> {
    let m = measure(p)?;
    let pass = (0.40..=0.65).contains(&m.lure_recall)
        && m.lure_old >= 0.6
        && (m.lure_old - m.studied_old).abs() <= 0.3
        && m.unrelated_old < 0.2;
    Ok(ExperimentResult {
        name: "drm",
        ours: serde_json::json!({
            "lure_recall": r3(m.lure_recall),
            "lures_recalled": m.lures_recalled,
            "lure_recall_lexicon_decoding": r3(m.lure_recall_lexicon),
            "studied_old": r3(m.studied_old),
            "lure_old": r3(m.lure_old),
            "unrelated_old": r3(m.unrelated_old),
            "studied_recall_precision": r3(m.studied_recall_precision),
        }),
        published: serde_json::json!({
            "lure_recall": 0.55, "lure_recall_12_word_lists": 0.40,
            "lure_old": "≈ studied_old", "unrelated_old": "< 0.20",
        }),
        pass,
        criterion: "lure recall in [0.40, 0.65]; lure old ≥ 0.6 and within 0.3 of studied; \
                    unrelated old < 0.2"
            .into(),
    })
}
