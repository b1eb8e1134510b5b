//! `badnet demo --quick` as a user runs it: every file it promises, each
//! one readable, and the table's verdicts.

use std::process::Command;

use crate::common::*;

#[test]
fn quick_demo_writes_its_table_plots_and_captures() {
    require_root();
    let out_dir = std::env::temp_dir().join(format!("badnet-demo-{}", std::process::id()));
    let out = badnet()
        .args(["demo", "--quick", "--out"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    // Not a terminal: progress comes as plain lines.
    assert!(
        stderr.contains("[1/")
            && stderr.contains("] UDP clean")
            && stderr.contains("] TCP terrible"),
        "{stderr}"
    );
    // Times carry their precision, never "0.00 s", and a time is set
    // against the clean transfer only outside the clean runs' spread.
    assert!(!stdout.contains("| 0.00 s |"), "{stdout}");
    assert!(stdout.contains("| within noise |"), "{stdout}");
    assert!(
        stdout.contains("| network | UDP sent |") && stdout.contains("| terrible |"),
        "{stdout}"
    );
    assert!(
        stdout.contains("TCP, on the very same links, delivered every byte intact and in order"),
        "{stdout}"
    );

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    let rungs = report["rungs"].as_array().unwrap();
    assert_eq!(rungs.len(), 11);
    assert_eq!(report["clean_tcp_s"].as_array().unwrap().len(), 5);
    for r in rungs {
        assert_eq!(r["tcp"]["intact"], true, "{}", r["name"]);
        assert_eq!(r["tcp"]["in_order"], true, "{}", r["name"]);
    }
    let loss20 = rungs.iter().find(|r| r["name"] == "loss 20%").unwrap();
    assert!(loss20["udp"]["lost"].as_u64().unwrap() > 0);
    assert!(!report["rtt_with_jitter_ms"].as_array().unwrap().is_empty());
    assert!(report["sweep"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["tcp"]["congestion"] == "cubic"));

    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("| clean |") && md.contains("![UDP loss](loss.svg)"),
        "{md}"
    );
    for svg in ["loss.svg", "goodput.svg", "rtt.svg"] {
        let text = std::fs::read_to_string(out_dir.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(text.contains("<polyline"), "{svg} has no curve");
    }
    for pcap in ["tcp.pcap", "udp.pcap"] {
        let read = Command::new("tcpdump")
            .arg("-nr")
            .arg(out_dir.join(pcap))
            .output()
            .unwrap();
        assert!(
            read.status.success(),
            "{pcap}: {}",
            String::from_utf8_lossy(&read.stderr)
        );
        assert!(
            String::from_utf8_lossy(&read.stdout).lines().count() > 100,
            "{pcap} holds too few packets"
        );
    }
    std::fs::remove_dir_all(&out_dir).unwrap();
}
