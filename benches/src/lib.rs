//! Benchmarks live in the bench targets (`hash.rs`, `join.rs`); run `cargo bench -p fast-lsh-ann-benches`.
