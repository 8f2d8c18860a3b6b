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

/// The fields of a configuration struct with their default values, as its serde derive
/// writes them: the one list of the options of `consolidation=dict(...)` and
/// `recall=dict(...)` (the struct's own), which the parsers below follow and against which
/// `tests/test_memory.py` checks the `.pyi` stub.
fn defaults<T: Default + serde::Serialize>(
    err: fn(String) -> PyErr,
) -> PyResult<serde_json::Map<String, serde_json::Value>> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        other => Err(err(format!(
            "the configuration does not serialise to an object: {other:?}"
        ))),
    }
}

/// The keys `consolidation=dict(...)` accepts: every field of [`ConsolidationConfig`] (sorted),
/// then `max_k` (the Python spelling of `clusters=None`'s parameter).
pub(crate) fn consolidation_keys() -> PyResult<Vec<String>> {
    let mut keys: Vec<String> = defaults::<ConsolidationConfig>(config_err)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.push("max_k".into());
    Ok(keys)
}

/// The keys `recall=dict(...)` accepts: the fields of [`RecallConfig`] (sorted).
pub(crate) fn recall_keys() -> PyResult<Vec<String>> {
    Ok(defaults::<RecallConfig>(recall_err)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// Sets field `key` of `fields` (a configuration's fields as JSON) to the Python value `v`,
/// typed like the field's default: an integer field takes a Python int (not a bool, not a
/// float), a float field any real number (not a bool). Each field is tried alone, so an
/// error names it (e.g. a number too large for a `u32`).
fn set_field<T: serde::de::DeserializeOwned>(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    v: &Bound<'_, PyAny>,
    err: fn(String) -> PyErr,
    keys: impl FnOnce() -> PyResult<Vec<String>>,
) -> PyResult<()> {
    let value: serde_json::Value = match fields.get(key) {
        None => {
            return Err(err(format!(
                "unknown option {key:?}; expected one of {}",
                keys()?.join(", ")
            )))
        }
        Some(d) if d.is_u64() => int::<u64>(key, v, "an integer >= 0").map_err(err)?.into(),
        Some(d) if d.is_f64() => real(key, v).map_err(err)?.into(),
        Some(d) => return Err(err(format!("{key}: no Python form for its default {d}"))),
    };
    fields.insert(key.to_owned(), value);
    serde_json::from_value::<T>(fields.clone().into())
        .map(drop)
        .map_err(|e| err(format!("{key}: {e}")))
}

/// A dict key as a string.
fn key_of(k: &Bound<'_, PyAny>, err: fn(String) -> PyErr) -> PyResult<String> {
    k.extract().map_err(|_| {
        err(format!(
            "keys must be strings, got {}",
            k.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// `consolidation=dict(...)` as a checked [`ConsolidationConfig`]: the defaults with the given
/// fields replaced. The fields are the struct's (through its serde derive); only `clusters`
/// (+ `max_k`) and `forgetting` have Python forms of their own.
pub(crate) fn parse_consolidation(d: Option<&Bound<'_, PyDict>>) -> PyResult<ConsolidationConfig> {
    let Some(d) = d else {
        return Ok(ConsolidationConfig::default());
    };
    let mut fields = defaults::<ConsolidationConfig>(config_err)?;
    let mut clusters: Option<Option<usize>> = None;
    let mut max_k: Option<usize> = None;
    let mut forgetting_curve: Option<ForgettingCurve> = None;
    for (k, v) in d.iter() {
        let key = key_of(&k, config_err)?;
        match key.as_str() {
            "clusters" => {
                clusters = Some(if v.is_none() {
                    None
                } else {
                    Some(int(&key, &v, "an integer >= 1 or None (discover)").map_err(config_err)?)
                });
            }
            "max_k" => {
                max_k = if v.is_none() {
                    None
                } else {
                    Some(int(&key, &v, "an integer >= 1 or None").map_err(config_err)?)
                };
            }
            "forgetting" => forgetting_curve = Some(forgetting(&v)?),
            _ => set_field::<ConsolidationConfig>(
                &mut fields,
                &key,
                &v,
                config_err,
                consolidation_keys,
            )?,
        }
    }
    let mut c: ConsolidationConfig =
        serde_json::from_value(fields.into()).map_err(|e| config_err(e.to_string()))?;
    if let (Some(Some(_)), Some(_)) = (clusters, max_k) {
        return Err(config_err(
            "max_k applies to discovery (clusters=None), not to a given number of clusters".into(),
        ));
    }
    c = match clusters {
        Some(Some(k)) => c.clusters(ClusterCount::Fixed(k)),
        _ => c.clusters(ClusterCount::Discover { max_k }),
    };
    if let Some(f) = forgetting_curve {
        c = c.forgetting(f);
    }
    c.check()
        .map_err(|e| ConfigError::new_err(format!("invalid configuration: {e}")))
}

fn recall_err(msg: String) -> PyErr {
    ConfigError::new_err(format!("invalid configuration: recall: {msg}"))
}

/// `recall=dict(...)` as a checked [`RecallConfig`]: the defaults with the given fields
/// replaced.
pub(crate) fn parse_recall(d: Option<&Bound<'_, PyDict>>) -> PyResult<RecallConfig> {
    let Some(d) = d else {
        return Ok(RecallConfig::default());
    };
    let mut fields = defaults::<RecallConfig>(recall_err)?;
    for (k, v) in d.iter() {
        let key = key_of(&k, recall_err)?;
        set_field::<RecallConfig>(&mut fields, &key, &v, recall_err, recall_keys)?;
    }
    let c: RecallConfig =
        serde_json::from_value(fields.into()).map_err(|e| recall_err(e.to_string()))?;
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

/// A [`CycleReport`] as a dict; `timings["checkpoint"]` is the seconds a durable store spent
/// making the cycle durable (None in memory).
pub(crate) fn report_dict<'py>(py: Python<'py>, r: &CycleReport) -> PyResult<Bound<'py, PyDict>> {
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
    t.set_item("lists", tm.lists.as_secs_f64())?;
    t.set_item("total", tm.total().as_secs_f64())?;
    t.set_item("checkpoint", tm.checkpoint.map(|c| c.as_secs_f64()))?;
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
    d.set_item("kind", h.node.kind())?;
    d.set_item("id", h.node.raw_id())?;
    d.set_item("score", h.score)?;
    d.set_item("confidence", h.confidence)?;
    d.set_item("similarity", h.similarity)?;
    d.set_item("episodic", h.episodic)?;
    d.set_item("semantic", h.semantic)?;
    d.set_item("pathways", PyTuple::new(py, h.via.names())?)?;
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
