//! Loading the shared data sets: DRM word lists and the lexicon (raw little-endian f32 rows).

use std::path::{Path, PathBuf};

use super::ValidateError;

/// The embedding dimension of the shared word vectors.
pub const WORD_DIM: usize = 384;

/// One DRM list: a critical lure (never studied) and its studied words, with vectors.
#[derive(Debug, Clone)]
pub struct DrmList {
    /// The list's name (its lure, by convention).
    pub name: String,
    /// The critical lure word. Only the scorer may use it.
    pub lure: String,
    /// The lure's vector (unit length). Only the scorer may use it.
    pub lure_vector: Vec<f32>,
    /// The studied words in their published order.
    pub studied: Vec<String>,
    /// The studied vectors, row-major, one per studied word.
    pub studied_vectors: Vec<f32>,
}

/// The DRM data set: lists laid out as in the repository's `data/drm`.
#[derive(Debug, Clone)]
pub struct DrmData {
    /// The lists in file order.
    pub lists: Vec<DrmList>,
    /// The vector dimension.
    pub dim: usize,
}

/// The lexicon: common words with vectors.
#[derive(Debug, Clone)]
pub struct Lexicon {
    /// Words, most frequent first.
    pub words: Vec<String>,
    /// Vectors, row-major, one per word.
    pub vectors: Vec<f32>,
    /// The vector dimension.
    pub dim: usize,
}

impl Lexicon {
    /// Row `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
    /// How many words.
    pub fn len(&self) -> usize {
        self.words.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// The default data directory: `ENGRAM_DATA_DIR`, else the repository's own `data/` (next to
/// `Cargo.toml`; see `data/README.md` there for what it holds and where it comes from).
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("ENGRAM_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    }
}

fn read_f32(path: &Path) -> Result<Vec<f32>, ValidateError> {
    let bytes = std::fs::read(path).map_err(|e| ValidateError::Io {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if bytes.len() % 4 != 0 {
        return Err(ValidateError::Data {
            path: path.to_owned(),
            message: format!("{} bytes is not a whole number of f32", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn bad(path: &Path, message: impl Into<String>) -> ValidateError {
    ValidateError::Data {
        path: path.to_owned(),
        message: message.into(),
    }
}

impl DrmData {
    /// Loads `lists.json` and `vectors.f32` from a directory laid out like `data/drm`.
    pub fn load(dir: &Path) -> Result<Self, ValidateError> {
        let jpath = dir.join("lists.json");
        let text = std::fs::read_to_string(&jpath).map_err(|e| ValidateError::Io {
            path: jpath.clone(),
            message: e.to_string(),
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(&jpath, e.to_string()))?;
        let dim = json["dim"].as_u64().unwrap_or(WORD_DIM as u64) as usize;
        let vpath = dir.join("vectors.f32");
        let vectors = read_f32(&vpath)?;
        let rows = vectors.len() / dim.max(1);
        let lists_json = json["lists"]
            .as_array()
            .ok_or_else(|| bad(&jpath, "no \"lists\" array"))?;
        let mut lists = Vec::with_capacity(lists_json.len());
        for (j, l) in lists_json.iter().enumerate() {
            let s = |key: &str| l[key].as_str().map(str::to_owned);
            let lure = s("lure").ok_or_else(|| bad(&jpath, format!("list {j}: no lure")))?;
            let name = s("list").unwrap_or_else(|| lure.clone());
            let studied: Vec<String> = l["studied"]
                .as_array()
                .ok_or_else(|| bad(&jpath, format!("list {j}: no studied words")))?
                .iter()
                .filter_map(|w| w.as_str().map(str::to_owned))
                .collect();
            let row = |key: &str, default: usize| {
                l["rows"][key]
                    .as_u64()
                    .map(|v| v as usize)
                    .unwrap_or(default)
            };
            let lure_row = row("lure", 16 * j);
            let first = row("studied_first", lure_row + 1);
            let last = row("studied_last", first + studied.len().saturating_sub(1));
            if last >= rows || lure_row >= rows || last + 1 - first != studied.len() {
                return Err(bad(&vpath, format!("list {j}: rows out of range")));
            }
            lists.push(DrmList {
                name,
                lure,
                lure_vector: vectors[lure_row * dim..(lure_row + 1) * dim].to_vec(),
                studied,
                studied_vectors: vectors[first * dim..(last + 1) * dim].to_vec(),
            });
        }
        if lists.is_empty() {
            return Err(bad(&jpath, "no lists"));
        }
        Ok(Self { lists, dim })
    }
}

impl Lexicon {
    /// Loads `words.txt` and `vectors.f32` from a directory laid out like `data/lexicon`.
    pub fn load(dir: &Path, dim: usize) -> Result<Self, ValidateError> {
        let wpath = dir.join("words.txt");
        let text = std::fs::read_to_string(&wpath).map_err(|e| ValidateError::Io {
            path: wpath.clone(),
            message: e.to_string(),
        })?;
        let words: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        let vpath = dir.join("vectors.f32");
        let vectors = read_f32(&vpath)?;
        if vectors.len() != words.len() * dim {
            return Err(bad(
                &vpath,
                format!(
                    "{} floats for {} words of dimension {dim}",
                    vectors.len(),
                    words.len()
                ),
            ));
        }
        Ok(Self {
            words,
            vectors,
            dim,
        })
    }
}
