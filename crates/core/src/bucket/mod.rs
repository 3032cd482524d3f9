//! Buckets, shared by every pipeline: one builder that turns sorted `(key, row)` pairs
//! into a table (a bucket directory and its rows), the table read over any bytes
//! ([`TableView`]), a table held in memory ([`MemoryTable`]), and the first-collision rule.

pub mod build;
pub mod table;

pub use build::{BucketBuilder, MemoryTable, collide_within};
pub use table::TableView;
