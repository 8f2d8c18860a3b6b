//! Errors of the clustering module: a params error (one variant per invariant) inside the
//! algorithm error.

/// A clustering parameter breaks one of its invariants (returned by `check()`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// `k` must be at least 1.
    #[error("k must be at least 1, got 0")]
    ZeroK,
    /// `max_iter` must be at least 1.
    #[error("max_iter must be at least 1, got 0")]
    ZeroMaxIter,
    /// `n_init` must be at least 1.
    #[error("n_init must be at least 1, got 0")]
    ZeroNInit,
    /// A batch must hold at least one row.
    #[error("batch_size must be at least 1, got 0")]
    ZeroBatchSize,
    /// A real parameter is outside its range (or not finite).
    #[error("{name} must be in {range}, got {value}")]
    OutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The allowed range, for the message.
        range: &'static str,
        /// The value given.
        value: f64,
    },
    /// Precomputed centroids do not hold `k` rows (checked when the dimension is known).
    #[error("precomputed centroids: expected {expected} floats (k × dim), got {got}")]
    PrecomputedShape {
        /// k × dim.
        expected: usize,
        /// The length given.
        got: usize,
    },
}

/// Clustering failed: invalid parameters or invalid data. Nothing is partially returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The parameters are invalid.
    #[error("invalid parameters: {0}")]
    Params(#[from] ParamsError),
    /// The dimension must be at least 1.
    #[error("dimension must be at least 1, got 0")]
    ZeroDimension,
    /// There are no rows.
    #[error("the data holds no rows")]
    EmptyData,
    /// The flat data's length is not a whole number of rows.
    #[error("{len} floats are not a whole number of rows of dimension {dim}")]
    RaggedData {
        /// The flat length given.
        len: usize,
        /// The dimension given.
        dim: usize,
    },
    /// More clusters were asked for than there are rows.
    #[error("k = {k} clusters asked for but the data holds only {n} rows")]
    TooFewRows {
        /// Clusters asked for.
        k: usize,
        /// Rows available.
        n: usize,
    },
    /// A value is NaN or infinite.
    #[error("row {row}, component {col}: value {value} is not finite")]
    NonFinite {
        /// The row.
        row: usize,
        /// The component.
        col: usize,
        /// The value found.
        value: f32,
    },
    /// A row (or centroid) has zero length and cannot be normalised.
    #[error("row {row} has zero length")]
    ZeroVector {
        /// The row.
        row: usize,
    },
    /// Two slices that must have the same length do not.
    #[error("{what}: expected length {expected}, got {got}")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// The expected length.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A label names no cluster.
    #[error("row {row}: label {label} is not below k = {k}")]
    LabelOutOfRange {
        /// The row.
        row: usize,
        /// The label found.
        label: u32,
        /// The number of clusters.
        k: usize,
    },
    /// Two partial sums of different shapes cannot be merged.
    #[error("cannot merge partial sums of shape {a:?} (k, dim) with {b:?}")]
    ShapeMismatch {
        /// The receiver's (k, dim).
        a: (usize, usize),
        /// The argument's (k, dim).
        b: (usize, usize),
    },
}
