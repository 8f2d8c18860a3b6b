//! numpy input and output.
//!
//! A C-contiguous, aligned `float32` array is read in place (no copy). Any other float array
//! (`float64`, `float16`, Fortran order, strided views) or a nested list of floats is converted
//! once by `numpy.ascontiguousarray(x, dtype=float32)`. Integer, boolean, complex and object
//! arrays are refused with [`InputError`](crate::errors::InputError): silently turning ids or
//! labels into vectors hides bugs.

use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods,
    PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::intern;
use pyo3::prelude::*;

use crate::errors::input;

/// A float32 matrix view of a Python argument: rows × cols, C order.
pub(crate) struct Matrix<'py> {
    array: PyReadonlyArrayDyn<'py, f32>,
    /// Rows (1 for a 1-D argument).
    pub rows: usize,
    /// Columns (the dimension).
    pub cols: usize,
    /// Whether the argument was 1-D.
    pub one_d: bool,
}

impl Matrix<'_> {
    /// The data, row-major.
    pub fn as_slice(&self) -> &[f32] {
        // A C-contiguous array by construction.
        self.array.as_slice().expect("C-contiguous by construction")
    }
}

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import(intern!(py, "numpy"))
}

/// Any object as a numpy array (no copy when it already is one).
fn as_ndarray<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        return Ok(a.clone());
    }
    let a = numpy(obj.py())?.call_method1(intern!(obj.py(), "asarray"), (obj,))?;
    Ok(a.cast_into::<PyUntypedArray>()?)
}

/// Reads `obj` as a float32 matrix. `allow_1d` accepts a vector as one row.
pub(crate) fn matrix<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    allow_1d: bool,
) -> PyResult<Matrix<'py>> {
    let py = obj.py();
    let arr = as_ndarray(obj)?;
    let dtype = arr.dtype();
    if dtype.kind() != b'f' {
        return Err(input(format!(
            "{name}: expected a float32 or float64 array, got dtype {}",
            dtype.str()?
        )));
    }
    let shape = arr.shape().to_vec();
    let (rows, cols, one_d) = match shape.as_slice() {
        [d] if allow_1d => (1, *d, true),
        [n, d] => (*n, *d, false),
        _ => {
            return Err(input(format!(
                "{name}: expected a {} array, got shape {shape:?}",
                if allow_1d { "1-D or 2-D" } else { "2-D" }
            )))
        }
    };
    let in_place = dtype.is_equiv_to(&numpy::dtype::<f32>(py))
        && arr.is_c_contiguous()
        && arr.is_aligned()
        && !shape.contains(&0);
    let array = if in_place {
        arr.cast::<PyArrayDyn<f32>>()?.clone()
    } else {
        let np = numpy(py)?;
        let kw = pyo3::types::PyDict::new(py);
        kw.set_item(intern!(py, "dtype"), np.getattr(intern!(py, "float32"))?)?;
        let c = np.call_method(intern!(py, "ascontiguousarray"), (arr,), Some(&kw))?;
        c.cast_into::<PyArrayDyn<f32>>()?
    };
    Ok(Matrix {
        array: array.try_readonly()?,
        rows,
        cols,
        one_d,
    })
}

/// Reads a 1-D integer array (or list) as `Vec<T>` for unsigned `T`, refusing floats and
/// negative values.
pub(crate) fn unsigned_vec<T>(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<T>>
where
    T: Element + Copy + TryFrom<u64> + Into<u64>,
{
    let py = obj.py();
    let arr = as_ndarray(obj)?;
    let kind = arr.dtype().kind();
    if kind != b'i' && kind != b'u' {
        return Err(input(format!(
            "{name}: expected an integer array, got dtype {}",
            arr.dtype().str()?
        )));
    }
    if arr.ndim() != 1 {
        return Err(input(format!(
            "{name}: expected a 1-D array, got shape {:?}",
            arr.shape()
        )));
    }
    // Through int64/uint64 so negative values are seen before any wrap-around.
    if kind == b'i' {
        let np = numpy(py)?;
        let a = np
            .call_method1(intern!(py, "asarray"), (arr, np.getattr("int64")?))?
            .cast_into::<PyArrayDyn<i64>>()?;
        let v = a.to_vec()?;
        return v
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                u64::try_from(x)
                    .ok()
                    .and_then(|x| T::try_from(x).ok())
                    .ok_or_else(|| input(format!("{name}[{i}] = {x} is out of range")))
            })
            .collect();
    }
    let np = numpy(py)?;
    let a = np
        .call_method1(intern!(py, "asarray"), (arr, np.getattr("uint64")?))?
        .cast_into::<PyArrayDyn<u64>>()?;
    a.to_vec()?
        .into_iter()
        .enumerate()
        .map(|(i, x)| {
            T::try_from(x).map_err(|_| input(format!("{name}[{i}] = {x} is out of range")))
        })
        .collect()
}

/// Reads a float array of any shape as flat `f64` values (one conversion when needed).
pub(crate) fn f64_vec(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<(Vec<f64>, Vec<usize>)> {
    let py = obj.py();
    let arr = as_ndarray(obj)?;
    if arr.dtype().kind() != b'f' {
        return Err(input(format!(
            "{name}: expected a float array, got dtype {}",
            arr.dtype().str()?
        )));
    }
    let shape = arr.shape().to_vec();
    let np = numpy(py)?;
    let kw = pyo3::types::PyDict::new(py);
    kw.set_item(intern!(py, "dtype"), np.getattr(intern!(py, "float64"))?)?;
    let a = np
        .call_method(intern!(py, "ascontiguousarray"), (arr,), Some(&kw))?
        .cast_into::<PyArrayDyn<f64>>()?;
    Ok((a.to_vec()?, shape))
}

/// A 1-D array owning `v` (no copy).
pub(crate) fn vec1<T: Element>(py: Python<'_>, v: Vec<T>) -> Bound<'_, PyArray1<T>> {
    v.into_pyarray(py)
}

/// A `rows × cols` array owning `v` (no copy).
pub(crate) fn vec2<T: Element>(
    py: Python<'_>,
    v: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'_, PyArray2<T>>> {
    v.into_pyarray(py).reshape([rows, cols])
}

/// The first non-finite value of a row-major matrix, as an error message.
pub(crate) fn first_non_finite(data: &[f32], dim: usize, name: &str) -> Option<String> {
    data.iter().position(|v| !v.is_finite()).map(|p| {
        format!(
            "{name}: row {}, component {}: value {} is not finite",
            p / dim.max(1),
            p % dim.max(1),
            data[p]
        )
    })
}

/// A 1-D numpy array bound to the GIL.
pub(crate) type Arr1<'py, T> = Bound<'py, PyArray1<T>>;
/// A 2-D numpy array bound to the GIL.
pub(crate) type Arr2<'py, T> = Bound<'py, PyArray2<T>>;
