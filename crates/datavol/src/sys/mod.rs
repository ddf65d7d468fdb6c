//! Thin layers over the kernel: durable writes, mount namespaces, the run
//! lock, the mount table, the unit this process runs in.
pub mod cgroup;
pub mod fsutil;
pub mod lock;
pub mod mountinfo;
pub mod namespace;
pub mod notify;
