//! Flags that several commands share.

use faults::Backend;

/// Which link to build, and how to seed it: `run`, `lab` and `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct LinkArgs {
    /// Which link joins the hosts.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Seed of the wire's random draws (the same seed, the same draws).
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<u64>,
}
