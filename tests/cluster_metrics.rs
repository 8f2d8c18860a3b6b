//! ARI and NMI against hand-computed cases and scikit-learn's values.

use approx::assert_abs_diff_eq;
use engram::cluster::{adjusted_rand_index as ari, normalized_mutual_info as nmi, ClusterError};

#[test]
fn known_values() {
    // scikit-learn: adjusted_rand_score([0,0,1,1],[0,0,1,2]) = 0.5714285714285715,
    // normalized_mutual_info_score(...) = 0.8 (arithmetic mean).
    assert_abs_diff_eq!(
        ari(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap(),
        0.5714285714,
        epsilon = 1e-9
    );
    assert_abs_diff_eq!(
        nmi(&[0, 0, 1, 1], &[0, 0, 1, 2]).unwrap(),
        0.8,
        epsilon = 1e-12
    );
    // scikit-learn docs: adjusted_rand_score([0, 0, 1, 2], [0, 0, 1, 1]) = 0.57…;
    // adjusted_rand_score([0, 0, 1, 1], [0, 1, 0, 1]) = -0.5.
    assert_abs_diff_eq!(
        ari(&[0, 0, 1, 1], &[0, 1, 0, 1]).unwrap(),
        -0.5,
        epsilon = 1e-12
    );
    assert_abs_diff_eq!(
        nmi(&[0, 0, 1, 1], &[0, 1, 0, 1]).unwrap(),
        0.0,
        epsilon = 1e-12
    );
    // Hand-computed: a = [0,0,0,1,1,1], b = [0,0,1,1,2,2]. Cells 2,1,1,2: index = 2;
    // Σ C(rows) = 3 + 3 = 6; Σ C(cols) = 3; expected = 6·3/15 = 1.2; max = 4.5;
    // ARI = 0.8 / 3.3.
    assert_abs_diff_eq!(
        ari(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]).unwrap(),
        0.8 / 3.3,
        epsilon = 1e-12
    );
    // MI = 4·(1/6)·ln(2)... cells (2,1,1,2) with rows 3,3 and cols 2,2,2:
    // MI = (2/6)ln(2·6/6)·2 + (1/6)ln(6/6)·2 = (2/3) ln 2; H(a) = ln 2; H(b) = ln 3.
    let mi = 2.0 / 3.0 * 2f64.ln();
    assert_abs_diff_eq!(
        nmi(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]).unwrap(),
        mi / (0.5 * (2f64.ln() + 3f64.ln())),
        epsilon = 1e-12
    );
}

#[test]
fn perfect_permuted_and_degenerate() {
    let a = [0u32, 0, 1, 1, 2, 2, 2];
    let b = ['x', 'x', 'z', 'z', 'y', 'y', 'y'];
    assert_abs_diff_eq!(ari(&a, &b).unwrap(), 1.0, epsilon = 1e-12);
    assert_abs_diff_eq!(nmi(&a, &b).unwrap(), 1.0, epsilon = 1e-12);
    // Symmetric and invariant to renaming.
    let c = [1u8, 1, 1, 0, 0, 2, 2];
    let c2 = [7i64, 7, 7, 3, 3, 5, 5];
    assert_abs_diff_eq!(ari(&a, &c).unwrap(), ari(&c, &a).unwrap(), epsilon = 1e-12);
    assert_abs_diff_eq!(ari(&a, &c).unwrap(), ari(&a, &c2).unwrap(), epsilon = 1e-12);
    assert_abs_diff_eq!(nmi(&a, &c).unwrap(), nmi(&c2, &a).unwrap(), epsilon = 1e-12);
    // scikit-learn's special cases.
    assert_eq!(ari(&[0, 0, 0], &[1, 1, 1]).unwrap(), 1.0);
    assert_eq!(ari(&[0, 1, 2], &[5, 4, 3]).unwrap(), 1.0);
    assert_eq!(nmi(&[0, 0, 0], &[1, 1, 1]).unwrap(), 1.0);
    assert_eq!(nmi(&[0, 0, 0], &[0, 1, 2]).unwrap(), 0.0);
    assert_eq!(ari::<u32, u32>(&[], &[]).unwrap(), 1.0);
    assert!(matches!(
        ari(&[0, 1], &[0]),
        Err(ClusterError::LengthMismatch { .. })
    ));
    assert!(matches!(
        nmi(&[0, 1], &[0]),
        Err(ClusterError::LengthMismatch { .. })
    ));
}
