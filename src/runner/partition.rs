//! Cutting and healing the link while a probe runs.

use anyhow::Context;
use faults::Lab;

use crate::scenario::Partition;

/// Cuts the link after `p.after`, and heals it `p.duration` later. A
/// partition that could not be made (or undone) fails the run: a report
/// of a network that was never cut would be a lie.
fn partition_after(lab: &Lab, p: Partition) -> faults::Result<()> {
    std::thread::sleep(p.after);
    lab.partition()?;
    std::thread::sleep(p.duration);
    lab.heal()
}

/// Runs `probe` while `partition` (if any) cuts and heals `lab` on a
/// thread of its own; the partition's failure comes first.
pub fn with_partition<T>(
    lab: &Lab,
    partition: Option<Partition>,
    probe: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        let cut = partition.map(|p| s.spawn(move || partition_after(lab, p)));
        let result = probe();
        if let Some(cut) = cut {
            cut.join()
                .expect("the partition thread panicked")
                .context("partitioning the link")?;
        }
        result
    })
}
