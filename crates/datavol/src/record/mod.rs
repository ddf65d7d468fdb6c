//! What datavol remembers: the marker on the volume's own filesystem, the
//! seed history on the root disk, and the last run of each verb.
pub mod history;
pub mod instance;
pub mod marker;
pub mod runs;
