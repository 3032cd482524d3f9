//! Exact distances, summed the way Spark sums them.

use crate::kernels::Element;

/// Squared Euclidean distance as Spark's `Vectors.sqdist` computes it for dense vectors:
/// a plain sequential `f64` loop `s += (x_i - y_i)²`, no FMA, no reassociation. Reported
/// distances are `spark_sqdist(..).sqrt()`, bit-identical to Spark's `distCol`.
#[inline]
pub fn spark_sqdist<T: Element>(a: &[T], b: &[T]) -> f64 {
    let mut s = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = x.to_f64() - y.to_f64();
        s += d * d;
    }
    s
}

/// [`spark_sqdist`] of `a` with each of four rows at once: the same sequential sum per
/// row, bit for bit, but four independent chains of additions keep the CPU busy where one
/// waits on each addition in turn.
#[inline]
pub(crate) fn spark_sqdist4<T: Element>(a: &[T], b: [&[T]; 4]) -> [f64; 4] {
    let mut s = [0.0f64; 4];
    let (b0, b1, b2, b3) = (
        &b[0][..a.len()],
        &b[1][..a.len()],
        &b[2][..a.len()],
        &b[3][..a.len()],
    );
    for (i, x) in a.iter().enumerate() {
        let x = x.to_f64();
        for (acc, y) in s.iter_mut().zip([b0[i], b1[i], b2[i], b3[i]]) {
            let d = x - y.to_f64();
            *acc += d * d;
        }
    }
    s
}

/// A fast squared distance for screening (four `f64` lanes, so it vectorises): within
/// `QUICK_REL_ERROR * exact` of [`spark_sqdist`]. Widening to `f64` first makes each
/// difference of two `f32` values exact.
#[inline]
pub(crate) fn quick_sqdist<T: Element>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            let d = x[j].to_f64() - y[j].to_f64();
            acc[j] += d * d;
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, y) in ta.iter().zip(tb) {
        let d = x.to_f64() - y.to_f64();
        s += d * d;
    }
    s
}

crate::kernels::cpu::multiversion! {
    /// [`quick_sqdist`] for `f32` rows (what an index stores), with sixteen `f64`
    /// accumulators so the AVX2 build keeps four vector additions in flight; the same
    /// [`quick_rel_error`] bound holds (it holds for any order of the sum).
    pub(crate) fn quick_sqdist_f32(a: &[f32], b: &[f32]) -> f64 {
        let mut acc = [0.0f64; 16];
        let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
        let (ta, tb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for j in 0..16 {
                let d = f64::from(x[j]) - f64::from(y[j]);
                acc[j] += d * d;
            }
        }
        let mut s: f64 = acc.chunks_exact(4).map(|c| (c[0] + c[1]) + (c[2] + c[3])).sum();
        for (x, y) in ta.iter().zip(tb) {
            let d = f64::from(*x) - f64::from(*y);
            s += d * d;
        }
        s
    }
}

/// Relative error bound of [`quick_sqdist`] against [`spark_sqdist`] for vectors of `dim`
/// values: both are sums of the same `dim` non-negative terms in `f64`, each within
/// `dim` ulps of the true sum (and `f64` differences of `f64` inputs add one more); we
/// double it.
pub(crate) fn quick_rel_error(dim: usize) -> f64 {
    4.0 * (dim as f64 + 2.0) * f64::EPSILON
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_example_distance_is_five() {
        // Spark's BRP suite: keyDistance((1, 2), (-2, -2)) == 5.
        assert_eq!(spark_sqdist(&[1.0f64, 2.0], &[-2.0, -2.0]).sqrt(), 5.0);
    }

    #[test]
    fn quick_is_within_its_bound() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..131).map(|i| (i as f32 * 0.11).cos()).collect();
        let (q, s) = (quick_sqdist(&a, &b), spark_sqdist(&a, &b));
        assert!((q - s).abs() <= quick_rel_error(131) * s);
        let q32 = quick_sqdist_f32(&a, &b);
        assert!((q32 - s).abs() <= quick_rel_error(131) * s);
    }

    #[test]
    fn four_at_once_are_sparks_bit_for_bit() {
        let rows: Vec<Vec<f32>> = (0..5)
            .map(|r| {
                (0..131)
                    .map(|i| ((i * (r + 2)) as f32 * 0.37).sin() * 3.0)
                    .collect()
            })
            .collect();
        let got = spark_sqdist4(&rows[0], [&rows[1], &rows[2], &rows[3], &rows[4]]);
        for (l, d) in got.iter().enumerate() {
            assert_eq!(d.to_bits(), spark_sqdist(&rows[0], &rows[l + 1]).to_bits());
        }
    }
}
