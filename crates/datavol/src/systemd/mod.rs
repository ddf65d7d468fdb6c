//! What datavol tells systemd: mount units, and the D-Bus calls that start them.
pub mod bus;
pub mod generator;
pub mod unit;
