//! `java.util.Random`, reproduced bit for bit, because Spark draws its projection vectors
//! with `scala.util.Random(seed).nextGaussian()`.
//!
//! The generator is Java's 48-bit linear congruential generator; `next_gaussian` is
//! Marsaglia's polar method with one cached value, and its logarithm is fdlibm's `e_log.c`
//! (Java's `StrictMath.log`), reimplemented below: glibc's `ln`, and the `libm` crate's
//! (musl's newer table-driven algorithm), differ from it in the last bit on a few percent
//! of inputs, which would change Spark's unit vectors.

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const ADDEND: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;

/// `java.util.Random` with the same seed gives the same sequence as this.
#[derive(Debug, Clone)]
pub struct JavaRandom {
    state: u64,
    cached_gaussian: Option<f64>,
}

impl JavaRandom {
    /// `new java.util.Random(seed)`.
    pub fn new(seed: i64) -> Self {
        JavaRandom {
            state: (seed as u64 ^ MULTIPLIER) & MASK,
            cached_gaussian: None,
        }
    }

    /// `next(bits)`: the top `bits` bits of the advanced state, as Java's signed int.
    fn next(&mut self, bits: u32) -> i32 {
        self.state = (self.state.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND)) & MASK;
        (self.state >> (48 - bits)) as i32
    }

    /// `nextDouble()`: 53 random bits scaled into [0, 1).
    pub fn next_double(&mut self) -> f64 {
        let high = (self.next(26) as i64) << 27;
        let low = self.next(27) as i64;
        (high + low) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `nextGaussian()`: a standard normal draw, exactly as Java computes it.
    pub fn next_gaussian(&mut self) -> f64 {
        if let Some(g) = self.cached_gaussian.take() {
            return g;
        }
        loop {
            let v1 = 2.0 * self.next_double() - 1.0;
            let v2 = 2.0 * self.next_double() - 1.0;
            let s = v1 * v1 + v2 * v2;
            if s < 1.0 && s != 0.0 {
                let multiplier = (-2.0 * strict_log(s) / s).sqrt();
                self.cached_gaussian = Some(v2 * multiplier);
                return v1 * multiplier;
            }
        }
    }
}

/// Natural logarithm exactly as fdlibm's `__ieee754_log` computes it (so as Java's
/// `StrictMath.log`): reduce `x = 2^k (1 + f)` with `sqrt(2)/2 < 1 + f < sqrt(2)`, then
/// `log(1 + f) = f - f²/2 + s·(f²/2 + R(s²))` with `s = f / (2 + f)` and a degree-14
/// minimax polynomial `R`, adding `k·ln 2` in two parts. Same constants, same operation
/// order, so the same bits.
fn strict_log(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const TWO54: f64 = f64::from_bits(0x4350_0000_0000_0000);
    const ONE_THIRD: f64 = f64::from_bits(0x3fd5_5555_5555_5555);
    const LG: [f64; 7] = [
        f64::from_bits(0x3fe5_5555_5555_5593),
        f64::from_bits(0x3fd9_9999_9997_fa04),
        f64::from_bits(0x3fd2_4924_9422_9359),
        f64::from_bits(0x3fcc_71c5_1d8e_78af),
        f64::from_bits(0x3fc7_4664_96cb_03de),
        f64::from_bits(0x3fc3_9a09_d078_c69f),
        f64::from_bits(0x3fc2_f112_df3e_5244),
    ];
    let high = |v: f64| (v.to_bits() >> 32) as i32;
    let with_high =
        |v: f64, hi: i32| f64::from_bits(((hi as u32 as u64) << 32) | (v.to_bits() & 0xffff_ffff));

    let mut x = x;
    let mut hx = high(x);
    let mut k: i32 = 0;
    if hx < 0x0010_0000 {
        // Zero, negative or subnormal.
        if x == 0.0 {
            return f64::NEG_INFINITY;
        }
        if x < 0.0 {
            return f64::NAN;
        }
        k -= 54;
        x *= TWO54;
        hx = high(x);
    }
    if hx >= 0x7ff0_0000 {
        return x + x;
    }
    k += (hx >> 20) - 1023;
    hx &= 0x000f_ffff;
    let i = (hx + 0x95f64) & 0x0010_0000;
    // Normalise the mantissa into [sqrt(2)/2, sqrt(2)).
    x = with_high(x, hx | (i ^ 0x3ff0_0000));
    k += i >> 20;
    let f = x - 1.0;
    let dk = k as f64;
    if (0x000f_ffff & (2 + hx)) < 3 {
        // |f| < 2^-20: a short series is enough.
        if f == 0.0 {
            return if k == 0 {
                0.0
            } else {
                dk * LN2_HI + dk * LN2_LO
            };
        }
        let r = f * f * (0.5 - ONE_THIRD * f);
        return if k == 0 {
            f - r
        } else {
            dk * LN2_HI - ((r - dk * LN2_LO) - f)
        };
    }
    let s = f / (2.0 + f);
    let z = s * s;
    let w = z * z;
    let t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
    let t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
    let r = t2 + t1;
    if ((hx - 0x6147a) | (0x6b851 - hx)) > 0 {
        let hfsq = 0.5 * f * f;
        if k == 0 {
            f - (hfsq - s * (hfsq + r))
        } else {
            dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f)
        }
    } else if k == 0 {
        f - s * (f - r)
    } else {
        dk * LN2_HI - ((s * (f - r) - dk * LN2_LO) - f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_log_special_values_and_accuracy() {
        assert_eq!(strict_log(1.0), 0.0);
        assert_eq!(strict_log(0.0), f64::NEG_INFINITY);
        assert!(strict_log(-1.0).is_nan());
        assert_eq!(strict_log(f64::INFINITY), f64::INFINITY);
        for x in [1e-300, 5e-324, 0.1, 0.5, 0.999_999_9, 2.0, 1e10] {
            let (got, want) = (strict_log(x), x.ln());
            assert!(
                (got - want).abs() <= 2.0 * f64::EPSILON * want.abs().max(1e-300),
                "log({x}) = {got}, ln says {want}"
            );
        }
    }

    #[test]
    fn first_gaussian_of_seed_42_matches_java() {
        // From tests/fixtures/java_random/next_gaussian.csv (seed 42, index 0).
        let mut rng = JavaRandom::new(42);
        assert_eq!(rng.next_gaussian().to_bits(), 0x3ff2453e82115d86);
        assert_eq!(rng.next_gaussian().to_bits(), 0x3fed6bca38120847);
    }
}
