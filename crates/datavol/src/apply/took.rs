//! Where a volume's run spent its time, for the result line: an operator
//! (and `cargo xtask bench --boot`) can see what a boot waited for.

use crate::plan::facts;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default)]
pub struct Took {
    pub facts: facts::Took,
    /// Format, migrate, adopt: whatever the action wrote.
    pub work: Duration,
    /// Writing the units and the ready flags (and a Reload).
    pub units: Duration,
    /// StartUnit until its job ended and the mount table showed the mount.
    pub mount: Duration,
    /// The look through the real mount afterwards.
    pub confirm: Duration,
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Took {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "device {}, look {}, work {}, units {}, mount {}, confirm {}",
            ms(self.facts.device),
            ms(self.facts.look),
            ms(self.work),
            ms(self.units),
            ms(self.mount),
            ms(self.confirm)
        )
    }
}
