//! Consolidation and recall: option parsing and result conversion for `engram.Engram`.

use engram::consolidation::{ClusterCount, ConsolidationConfig, ForgettingCurve};
use engram::recall::{Activation, RecallConfig};
use engram::{
    ConceptState, CycleReport, Familiarity, MemoryNode, RecallHit, RecallMode, RecallParams,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple};

use crate::arrays::vec1;
use crate::errors::{input, ConfigError};

/// The keys `consolidation=dict(...)` accepts.
pub(crate) const CONSOLIDATION_KEYS: &[&str] = &[
    "seed",
    "clusters",
    "max_k",
    "max_iter",
    "warm_iter",
    "replay_fraction",
    "replay_min",
    "min_coherence",
    "min_cluster_size",
    "match_threshold",
    "novelty_threshold",
    "soft_margin",
    "soft_candidates",
    "binding_gain",
    "prune_below",
    "replay_gain",
    "proto_strength",
    "confirm_gain",
    "promote_after",
    "concept_min_strength",
    "link_threshold",
    "forgetting",
];

fn config_err(msg: String) -> PyErr {
    ConfigError::new_err(format!("invalid configuration: consolidation: {msg}"))
}

/// An integer (not a bool, not a float) that fits `T`; the error says what is wrong.
fn int<T: TryFrom<u64>>(key: &str, v: &Bound<'_, PyAny>, what: &str) -> Result<T, String> {
    let bad = || {
        format!(
            "{key} must be {what}, got {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        )
    };
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<pyo3::types::PyInt>() {
        return Err(bad());
    }
    let x: u64 = v.extract().map_err(|_| bad())?;
    T::try_from(x).map_err(|_| bad())
}

/// A real number (int or float, not a bool); the error says what is wrong.
fn real(key: &str, v: &Bound<'_, PyAny>) -> Result<f64, String> {
    if v.is_instance_of::<PyBool>() {
        return Err(format!("{key} must be a number, got {v}"));
    }
    v.extract::<f64>().map_err(|_| {
        format!(
            "{key} must be a number, got {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        )
    })
}

fn forgetting(v: &Bound<'_, PyAny>) -> PyResult<ForgettingCurve> {
    if let Ok(s) = v.cast::<PyString>() {
        if s.to_cow()?.trim().eq_ignore_ascii_case("none") {
            return Ok(ForgettingCurve::None);
        }
    } else if let Ok(d) = v.cast::<PyDict>() {
        let get = |k: &str| -> PyResult<Option<f64>> {
            d.get_item(k)?
                .map(|x| real(&format!("forgetting[{k:?}]"), &x).map_err(config_err))
                .transpose()
        };
        for k in d.keys() {
            let k: String = k.extract().unwrap_or_default();
            if !["half_life", "scale", "exponent"].contains(&k.as_str()) {
                return Err(config_err(format!(
                    "forgetting: unknown key {k:?} (use {{\"half_life\": h}} or {{\"scale\": s, \"exponent\": c}})"
                )));
            }
        }
        return match (get("half_life")?, get("scale")?, get("exponent")?) {
            (Some(h), None, None) => Ok(ForgettingCurve::Exponential { half_life: h }),
            (None, Some(scale), Some(exponent)) => Ok(ForgettingCurve::Power { scale, exponent }),
            _ => Err(config_err(
                "forgetting: expected {\"half_life\": h} or {\"scale\": s, \"exponent\": c}".into(),
            )),
        };
    } else if !v.is_instance_of::<PyBool>() {
        if let Ok(h) = v.extract::<f64>() {
            return Ok(ForgettingCurve::Exponential { half_life: h });
        }
    }
    Err(config_err(format!(
        "forgetting must be \"none\", a half-life (number), {{\"half_life\": h}} or \
         {{\"scale\": s, \"exponent\": c}}, got {}",
        v.repr().map(|r| r.to_string()).unwrap_or_default()
    )))
}

/// `consolidation=dict(...)` as a checked [`ConsolidationConfig`].
pub(crate) fn parse_consolidation(d: Option<&Bound<'_, PyDict>>) -> PyResult<ConsolidationConfig> {
    let mut c = ConsolidationConfig::default();
    let Some(d) = d else {
        return Ok(c);
    };
    let mut clusters: Option<Option<usize>> = None;
    let mut max_k: Option<usize> = None;
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            config_err(format!(
                "keys must be strings, got {}",
                k.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        let f = |v: &Bound<'_, PyAny>| real(&key, v).map(|x| x as f32).map_err(config_err);
        c = match key.as_str() {
            "seed" => c.seed(int(&key, &v, "an integer in [0, 2**64)").map_err(config_err)?),
            "clusters" => {
                clusters = Some(if v.is_none() {
                    None
                } else {
                    Some(int(&key, &v, "an integer >= 1 or None (discover)").map_err(config_err)?)
                });
                c
            }
            "max_k" => {
                max_k = if v.is_none() {
                    None
                } else {
                    Some(int(&key, &v, "an integer >= 1 or None").map_err(config_err)?)
                };
                c
            }
            "max_iter" => c.max_iter(int(&key, &v, "an integer >= 1").map_err(config_err)?),
            "warm_iter" => c.warm_iter(int(&key, &v, "an integer >= 1").map_err(config_err)?),
            "replay_fraction" => c.replay_fraction(f(&v)?),
            "replay_min" => c.replay_min(int(&key, &v, "an integer >= 0").map_err(config_err)?),
            "min_coherence" => c.min_coherence(f(&v)?),
            "min_cluster_size" => {
                c.min_cluster_size(int(&key, &v, "an integer >= 0").map_err(config_err)?)
            }
            "match_threshold" => c.match_threshold(f(&v)?),
            "novelty_threshold" => c.novelty_threshold(f(&v)?),
            "soft_margin" => c.soft_margin(f(&v)?),
            "soft_candidates" => {
                c.soft_candidates(int(&key, &v, "an integer >= 0").map_err(config_err)?)
            }
            "binding_gain" => c.binding_gain(f(&v)?),
            "prune_below" => c.prune_below(f(&v)?),
            "replay_gain" => c.replay_gain(f(&v)?),
            "proto_strength" => c.proto_strength(f(&v)?),
            "confirm_gain" => c.confirm_gain(f(&v)?),
            "promote_after" => {
                c.promote_after(int(&key, &v, "an integer >= 1").map_err(config_err)?)
            }
            "concept_min_strength" => c.concept_min_strength(f(&v)?),
            "link_threshold" => c.link_threshold(f(&v)?),
            "forgetting" => c.forgetting(forgetting(&v)?),
            _ => {
                return Err(config_err(format!(
                    "unknown option {key:?}; expected one of {}",
                    CONSOLIDATION_KEYS.join(", ")
                )))
            }
        };
    }
    if let (Some(Some(_)), Some(_)) = (clusters, max_k) {
        return Err(config_err(
            "max_k applies to discovery (clusters=None), not to a given number of clusters".into(),
        ));
    }
    c = match clusters {
        Some(Some(k)) => c.clusters(ClusterCount::Fixed(k)),
        _ => c.clusters(ClusterCount::Discover { max_k }),
    };
    c.check()
        .map_err(|e| ConfigError::new_err(format!("invalid configuration: {e}")))
}

/// The keys `recall=dict(...)` accepts: the fields of [`RecallConfig`].
pub(crate) const RECALL_KEYS: &[&str] = &[
    "latency_intercept_ms",
    "latency_factor_ms",
    "source_activation",
    "spread_decay",
    "spread_threshold",
    "max_hops",
    "source_min_similarity",
    "max_sources",
    "familiarity_episodic_weight",
    "familiarity_threshold",
    "familiarity_slope",
    "completion_threshold",
    "completion_exponent",
    "forgetting_scale",
    "forgetting_exponent",
    "rehearsal_gain",
    "rehearsal_base",
];

fn recall_err(msg: String) -> PyErr {
    ConfigError::new_err(format!("invalid configuration: recall: {msg}"))
}

/// `recall=dict(...)` as a checked [`RecallConfig`]: the defaults with the given fields
/// replaced.
pub(crate) fn parse_recall(d: Option<&Bound<'_, PyDict>>) -> PyResult<RecallConfig> {
    let mut c = RecallConfig::default();
    let Some(d) = d else {
        return Ok(c);
    };
    for (k, v) in d.iter() {
        let key: String = k.extract().map_err(|_| {
            recall_err(format!(
                "keys must be strings, got {}",
                k.repr().map(|r| r.to_string()).unwrap_or_default()
            ))
        })?;
        let x = || real(&key, &v).map_err(recall_err);
        let f = || x().map(|x| x as f32);
        let n = || int::<usize>(&key, &v, "an integer >= 0").map_err(recall_err);
        match key.as_str() {
            "latency_intercept_ms" => c.latency_intercept_ms = x()?,
            "latency_factor_ms" => c.latency_factor_ms = x()?,
            "source_activation" => c.source_activation = f()?,
            "spread_decay" => c.spread_decay = f()?,
            "spread_threshold" => c.spread_threshold = f()?,
            "max_hops" => c.max_hops = n()?,
            "source_min_similarity" => c.source_min_similarity = f()?,
            "max_sources" => c.max_sources = n()?,
            "familiarity_episodic_weight" => c.familiarity_episodic_weight = f()?,
            "familiarity_threshold" => c.familiarity_threshold = f()?,
            "familiarity_slope" => c.familiarity_slope = f()?,
            "completion_threshold" => c.completion_threshold = f()?,
            "completion_exponent" => c.completion_exponent = f()?,
            "forgetting_scale" => c.forgetting_scale = x()?,
            "forgetting_exponent" => c.forgetting_exponent = x()?,
            "rehearsal_gain" => c.rehearsal_gain = f()?,
            "rehearsal_base" => c.rehearsal_base = f()?,
            _ => {
                return Err(recall_err(format!(
                    "unknown option {key:?}; expected one of {}",
                    RECALL_KEYS.join(", ")
                )))
            }
        }
    }
    c.check()
        .map_err(|e| ConfigError::new_err(format!("invalid configuration: {e}")))?;
    Ok(c)
}

/// An [`Activation`] as a dict of two parallel-array pairs, most active first:
/// `{"episodes": (ids u64, activations f32), "concepts": (ids u64, activations f32)}`.
pub(crate) fn activation_dict<'py>(
    py: Python<'py>,
    a: &Activation,
) -> PyResult<Bound<'py, PyDict>> {
    let (mut ei, mut ea, mut ci, mut ca) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &(node, act) in &a.nodes {
        match node {
            MemoryNode::Episode(e) => {
                ei.push(e.0);
                ea.push(act);
            }
            MemoryNode::Concept(c) => {
                ci.push(c.0);
                ca.push(act);
            }
        }
    }
    let d = PyDict::new(py);
    d.set_item("episodes", (vec1(py, ei), vec1(py, ea)))?;
    d.set_item("concepts", (vec1(py, ci), vec1(py, ca)))?;
    Ok(d)
}

fn ids<'py>(py: Python<'py>, v: &[engram::ConceptId]) -> Bound<'py, PyAny> {
    vec1(py, v.iter().map(|c| c.0).collect::<Vec<u64>>()).into_any()
}

/// A [`CycleReport`] as a dict; `checkpoint` is the seconds a durable store spent writing its
/// snapshot after the cycle.
pub(crate) fn report_dict<'py>(
    py: Python<'py>,
    r: &CycleReport,
    checkpoint: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("cycle", r.cycle)?;
    d.set_item("now", r.now)?;
    d.set_item("episodes_new", r.episodes_new)?;
    d.set_item("episodes_replayed", r.episodes_replayed)?;
    d.set_item("clusters_found", r.clusters_found)?;
    d.set_item("clusters_kept", r.clusters_kept)?;
    d.set_item("concepts_created", ids(py, &r.concepts_created))?;
    d.set_item("concepts_updated", ids(py, &r.concepts_updated))?;
    d.set_item("concepts_promoted", ids(py, &r.concepts_promoted))?;
    d.set_item("concepts_removed", ids(py, &r.concepts_removed))?;
    d.set_item("bindings_created", r.bindings_created)?;
    d.set_item("bindings_strengthened", r.bindings_strengthened)?;
    d.set_item("bindings_pruned", r.bindings_pruned)?;
    d.set_item("bindings_decayed", r.bindings_decayed)?;
    d.set_item("episodes_decayed", r.episodes_decayed)?;
    d.set_item("concepts_decayed", r.concepts_decayed)?;
    d.set_item("min_decay_factor", r.min_decay_factor)?;
    d.set_item("links_set", r.links_set)?;
    d.set_item("links_removed", r.links_removed)?;
    d.set_item("rows_skipped", r.rows_skipped)?;
    let t = PyDict::new(py);
    let tm = &r.timings;
    t.set_item("sample", tm.sample.as_secs_f64())?;
    t.set_item("cluster", tm.cluster.as_secs_f64())?;
    t.set_item("matching", tm.matching.as_secs_f64())?;
    t.set_item("apply", tm.apply.as_secs_f64())?;
    t.set_item("decay", tm.decay.as_secs_f64())?;
    t.set_item("prune", tm.prune.as_secs_f64())?;
    t.set_item("total", tm.total().as_secs_f64())?;
    t.set_item("checkpoint", checkpoint)?;
    d.set_item("timings", t)?;
    Ok(d)
}

pub(crate) fn parse_mode(s: &str) -> PyResult<RecallMode> {
    match s.trim().to_ascii_lowercase().as_str() {
        "episodic" => Ok(RecallMode::Episodic),
        "semantic" => Ok(RecallMode::Semantic),
        "blended" => Ok(RecallMode::Blended),
        _ => Err(input(format!(
            "mode must be one of \"episodic\", \"semantic\", \"blended\", got {s:?}"
        ))),
    }
}

/// [`RecallParams`] from the keyword arguments of `recall` / `recall_view`, checked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn recall_params(
    k: usize,
    mode: &str,
    probes: i64,
    now: Option<u64>,
    completion: Option<&Bound<'_, PyAny>>,
    weights: (f32, f32),
    support_weight: f32,
) -> PyResult<RecallParams> {
    if probes < 1 {
        return Err(input(format!("probes must be at least 1, got {probes}")));
    }
    let mut p = RecallParams::new(k)
        .mode(parse_mode(mode)?)
        .probes(probes as usize)
        .weights(weights.0, weights.1)
        .support_weight(support_weight)
        .at(now.unwrap_or(0));
    if let Some(c) = completion {
        if let Ok(b) = c.cast::<PyBool>() {
            if b.is_true() {
                p = p.with_completion();
            }
        } else if !c.is_none() {
            let t: f32 = c.extract().map_err(|_| {
                input(format!(
                    "completion must be None, a bool or a cosine threshold in [-1, 1], got {}",
                    c.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            })?;
            if t.is_nan() {
                return Err(input("completion: threshold is nan"));
            }
            p = p.completion(t);
        }
    }
    p.check().map_err(|e| input(e.to_string()))?;
    Ok(p)
}

/// One [`RecallHit`] as a dict.
pub(crate) fn hit_dict<'py>(py: Python<'py>, h: &RecallHit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let (kind, id) = match h.node {
        MemoryNode::Episode(e) => ("episode", e.0),
        MemoryNode::Concept(c) => ("concept", c.0),
    };
    d.set_item("kind", kind)?;
    d.set_item("id", id)?;
    d.set_item("score", h.score)?;
    d.set_item("confidence", h.confidence)?;
    d.set_item("similarity", h.similarity)?;
    d.set_item("episodic", h.episodic)?;
    d.set_item("semantic", h.semantic)?;
    let mut via: Vec<&str> = Vec::new();
    if h.via.episodic {
        via.push("episodic");
    }
    if h.via.semantic {
        via.push("semantic");
    }
    if h.via.completion {
        via.push("completion");
    }
    d.set_item("pathways", PyTuple::new(py, via)?)?;
    d.set_item("retention", h.retention)?;
    match &h.reconstruction {
        Some(v) => d.set_item("reconstruction", vec1(py, v.clone()))?,
        None => d.set_item("reconstruction", py.None())?,
    }
    Ok(d)
}

pub(crate) fn hits_list<'py>(py: Python<'py>, hits: &[RecallHit]) -> PyResult<Bound<'py, PyList>> {
    let v = hits
        .iter()
        .map(|h| hit_dict(py, h))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, v)
}

pub(crate) fn familiarity_dict<'py>(
    py: Python<'py>,
    f: &Familiarity,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("old", f.old)?;
    d.set_item("confidence", f.confidence)?;
    d.set_item("familiarity", f.familiarity)?;
    d.set_item("episodic", f.episodic)?;
    d.set_item("semantic", f.semantic)?;
    Ok(d)
}

pub(crate) fn parse_state(s: &str) -> PyResult<ConceptState> {
    match s.trim().to_ascii_lowercase().as_str() {
        "proto" => Ok(ConceptState::Proto),
        "promoted" => Ok(ConceptState::Promoted),
        _ => Err(input(format!(
            "state must be \"proto\" or \"promoted\", got {s:?}"
        ))),
    }
}
