//! What datavol remembers: the marker on the volume's own filesystem, and
//! the seed history on the root disk.
pub mod history;
pub mod marker;
