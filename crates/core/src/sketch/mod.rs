//! Sign sketches (Charikar's SimHash about a centre): the planes their bits test, the
//! sketcher that computes them, and the Hamming screens that rank candidates with them
//! before any vector is read. Used by the index (k-NN) and by joins (`max_hamming`).

pub mod planes;
pub mod screen;
pub mod sketcher;

pub use screen::{Sketches, screen, screen_all, screen_marked};
pub use sketcher::{MAX_BITS, Sketcher, check_bits};
