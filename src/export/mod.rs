//! A scenario for another engine: `badnet export`.
//!
//! - [`plan`]: what an export starts from, engine-neutral: hosts, the
//!   default and per-pair impairments, a timeline of [`faults::Fault`]s,
//!   and badnet's probe if it is the client.
//! - [`phases`]: the timeline as phases, each the faults in force.
//! - [`chaos_mesh`]: the phases as Chaos Mesh's NetworkChaos and Workflow
//!   objects, the probe as a Job; what it cannot express is refused.

pub mod chaos_mesh;
pub mod phases;
pub mod plan;

pub use plan::{Plan, Probe, Refused};
