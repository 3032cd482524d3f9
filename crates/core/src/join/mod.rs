//! Joins: the group kernel and planner both joins share ([`kernel`]), the merge join of
//! index tables ([`merge`]) and its out-of-core plan (`blocked`), the k-NN join beyond
//! memory ([`knn`]), the in-memory side of a join with an index ([`memory`]), and
//! pairs streamed to a consumer through a bounded channel ([`stream`]).

pub(crate) mod blocked;
pub mod kernel;
pub mod knn;
pub mod memory;
pub mod merge;
pub mod stream;

pub use kernel::Plan;
pub use knn::knn_join_blocked;
pub use memory::MemoryTables;
pub use merge::{JoinOptions, JoinSide, JoinSummary, join};
