//! The index directory: its parameters and MANIFEST codec ([`params`]), the external sort
//! ([`sort`]) that feeds each table's writer (`table`), the build ([`writer`]) and how it
//! replaces an old index atomically (`publish`); the reader ([`reader`]), which never
//! imports the writer, and k-NN over it ([`knn`]).

pub mod knn;
pub mod params;
pub(crate) mod publish;
pub mod reader;
pub mod sort;
pub(crate) mod table;
pub mod writer;

pub use knn::{DEFAULT_RERANK_PER_K, IndexKnn};
pub use params::IndexParams;
pub use reader::Index;
pub use writer::IndexWriter;
