//! Thin layers over the kernel: durable writes, mount namespaces, the run
//! lock, the mount table.
pub mod fsutil;
pub mod lock;
pub mod mountinfo;
pub mod namespace;
