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
    assert_eq!(rungs.len(), 12);
    let slow = rungs.iter().find(|r| r["name"] == "slow reader").unwrap();
    assert!(slow["udp"]["lost"].as_u64().unwrap() > 0, "{slow}");
    assert_eq!(slow["tcp"]["intact"], true, "{slow}");
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

    // Timeliness: the same messages, UDP losing some, TCP none (400 at 5%
    // loss each: none lost has probability 0.95^400 < 1e-8).
    let t = &report["timeliness"];
    assert_eq!(
        t["tcp"]["messages_delivered"], t["tcp"]["messages_sent"],
        "{t}"
    );
    assert!(
        t["udp"]["messages_delivered"].as_u64() < t["udp"]["messages_sent"].as_u64(),
        "{t}"
    );

    // Sharing: the flood kept its rate, the TCP flows backed off.
    let sh = &report["sharing"];
    assert_eq!(sh["alone"]["flows"].as_array().unwrap().len(), 2, "{sh}");
    assert!(
        sh["flooded"]["udp"]["sent_mbps"].as_f64().unwrap() > 35.0,
        "{sh}"
    );

    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        md.contains("| clean |") && md.contains("![UDP loss](loss.svg)"),
        "{md}"
    );
    for svg in [
        "loss.svg",
        "goodput.svg",
        "rtt.svg",
        "latency.svg",
        "flows.svg",
    ] {
        let text = std::fs::read_to_string(out_dir.join(svg)).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(text.contains("<polyline"), "{svg} has no curve");
    }
    // The peers: in the partition's phase, nothing crosses the cut and
    // nothing is lost inside a group; of the clients, only c3 (whose link
    // is lossy) loses probes.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    let cut = &json["mesh"]["phases"][1];
    assert_eq!(cut["action"], "partition h1,h2 | h3,h4,h5", "{cut}");
    for (pair, c) in cut["links"].as_object().unwrap() {
        let (from, to) = pair.split_once("->").unwrap();
        let across = (from <= "h2") != (to <= "h2");
        if across {
            assert_eq!(c["passed"], 0, "{pair} crossed the cut");
        } else {
            assert_eq!(c["dropped"], 0, "{pair} lost inside its group");
        }
    }
    for c in json["clients"]["clients"].as_array().unwrap() {
        let lost = c["lost"].as_u64().unwrap();
        assert_eq!(lost > 0, c["host"] == "c3", "{c}");
    }
    let mesh_svg = std::fs::read_to_string(out_dir.join("mesh.svg")).unwrap();
    assert_eq!(
        mesh_svg.matches("<rect").count(),
        3 * 25,
        "three 5x5 matrices"
    );
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
    page_renders_in_a_browser(&out_dir.join("report.html"));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// report.html, rendered by headless Chromium (Debian's, which `make deps`
/// installs): the table with its 12 networks, the summary and the three
/// charts are in the page the browser built, nothing is loaded from the
/// network, and the browser's console shows no error.
fn page_renders_in_a_browser(page: &std::path::Path) {
    let html = std::fs::read_to_string(page).unwrap();
    // (The SVGs name their XML namespace by URL; nothing is fetched from it.)
    for remote in [
        "src=\"http",
        "href=\"http",
        "url(",
        "<script",
        "<link",
        "@import",
    ] {
        assert!(!html.contains(remote), "report.html holds {remote}");
    }
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (apt-get install chromium; make deps does)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let rows = dom.matches("<tr>").count();
    assert_eq!(
        rows, 13,
        "the table has {rows} rows, not a header and 12 networks"
    );
    assert!(
        dom.contains("<table id=\"ladder\">"),
        "no table in the rendered page"
    );
    assert!(
        dom.contains("id=\"summary\"") && dom.contains("TCP"),
        "no summary"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        6,
        "not five charts and the peers' picture"
    );
    assert!(dom.contains("id=\"mesh\""), "no picture of the peers");
    assert_eq!(
        dom.matches("<li>c").count(),
        4,
        "not one line per client of the server"
    );
    assert!(dom.contains("<polyline"), "a chart without a curve");
    let log = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(errors.is_empty(), "the page logged: {errors:?}");
}
