//! Seeded inputs shared by the criterion benches (`hash.rs`, `join.rs`, `index.rs`); run them with
//! `cargo bench -p fast-lsh-ann-benches`.

/// A xorshift64 stream: fast, seeded, good enough for benchmark data.
struct XorShift(u64);

impl XorShift {
    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sum of 4 uniforms, rescaled: close enough to N(0, 1) for a benchmark.
    fn normal(&mut self) -> f64 {
        ((0..4).map(|_| self.next()).sum::<f64>() - 2.0) * 3f64.sqrt()
    }
}

/// `n x dim` values uniform in [-2, 2).
pub fn uniform_rows(n: usize, dim: usize) -> Vec<f32> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..n * dim)
        .map(|_| (rng.next() * 4.0 - 2.0) as f32)
        .collect()
}

/// n/2 near-N(0, 1) rows plus a copy of each with noise 0.05 (row i and i + n/2 are a pair).
pub fn planted(n: usize, dim: usize) -> Vec<f32> {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let half: Vec<f32> = (0..n / 2 * dim).map(|_| rng.normal() as f32).collect();
    let copies: Vec<f32> = half
        .iter()
        .map(|&v| v + 0.05 * rng.normal() as f32)
        .collect();
    [half, copies].concat()
}
