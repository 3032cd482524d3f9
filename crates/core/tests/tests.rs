//! The engine's integration tests, one binary (as ripgrep's `tests/tests.rs`): one link
//! step for all of them, and helpers shared through `util`.

mod golden;
mod index;
mod java_random;
mod join;
mod util;
