//! Helpers shared by the integration tests.

/// `n x dim` values uniform in `[-span/2, span/2)` from a 64-bit LCG seeded with `seed`
/// (the same generator the engine's unit tests use), so every test draws rows one way.
pub fn uniform_rows(n: usize, dim: usize, seed: u64, span: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n * dim)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * span
        })
        .collect()
}
