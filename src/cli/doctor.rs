//! `badnet doctor`: what this machine can do.

/// `badnet doctor`.
pub fn run(json: bool) -> anyhow::Result<()> {
    let report = faults::doctor();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for c in &report.checks {
        println!(
            "{:<7} {:<3} {}",
            c.name,
            if c.ok { "yes" } else { "no" },
            c.detail
        );
        if let Some(r) = &c.remedy {
            println!("{:<11} remedy: {r}", "");
        }
    }
    Ok(())
}
