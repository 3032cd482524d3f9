//! Every value of Java's `nextGaussian` fixture (6 seeds x 2,000 draws, produced by a real
//! JVM) must come out of `JavaRandom` bit for bit.

use fast_lsh_ann_core::hash::rng::JavaRandom;
use std::collections::BTreeMap;

#[test]
fn next_gaussian_matches_java_bit_for_bit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/java_random/next_gaussian.csv"
    );
    let text = std::fs::read_to_string(path).expect("fixture present");
    let mut by_seed: BTreeMap<i64, Vec<(usize, u64)>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let seed: i64 = f[0].parse().unwrap();
        let index: usize = f[1].parse().unwrap();
        let bits = u64::from_str_radix(f[2], 16).unwrap();
        by_seed.entry(seed).or_default().push((index, bits));
    }
    assert!(by_seed.len() >= 6, "fixture should hold 6 seeds");
    let mut checked = 0;
    for (seed, mut values) in by_seed {
        values.sort();
        let mut rng = JavaRandom::new(seed);
        for (i, (index, bits)) in values.into_iter().enumerate() {
            assert_eq!(index, i, "fixture indices are consecutive");
            let got = rng.next_gaussian();
            assert_eq!(
                got.to_bits(),
                bits,
                "seed {seed} draw {index}: got {got:e}, Java gave {:e}",
                f64::from_bits(bits)
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12_000);
}
