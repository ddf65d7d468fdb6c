//! Which block device a volume is, and what is on it, read without writing.
pub mod device;
pub mod nvme;
pub mod probe;
pub mod raid;
pub mod selector;
pub mod udev;
