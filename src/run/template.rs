//! Commands that name hosts: `{NAME}` is that host's address, `{self}` the
//! address of the host the command runs in, `{hosts}` every address and
//! `{peers}` the others', comma-separated.

use faults::Topology;

/// `words` with every placeholder replaced, for a command that runs in
/// host `me` of `topology` (whose addresses are `addrs`, in its order). A
/// `{name}` of no host of the lab is refused, naming it.
pub fn fill(
    words: &[String],
    topology: &Topology,
    addrs: &[std::net::Ipv4Addr],
    me: &str,
) -> Result<Vec<String>, String> {
    let names = topology.names();
    let address = |name: &str| -> Option<String> {
        let i = names.iter().position(|n| n == name)?;
        Some(addrs[i].to_string())
    };
    let join = |skip: Option<&str>| -> String {
        names
            .iter()
            .zip(addrs)
            .filter(|(n, _)| Some(n.as_str()) != skip)
            .map(|(_, a)| a.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    words
        .iter()
        .map(|word| {
            let mut out = String::new();
            let mut rest = word.as_str();
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let Some(close) = rest[open..].find('}') else {
                    out.push_str(&rest[open..]);
                    rest = "";
                    break;
                };
                let key = &rest[open + 1..open + close];
                let value = match key {
                    "self" => address(me),
                    "hosts" => Some(join(None)),
                    "peers" => Some(join(Some(me))),
                    name if !key.is_empty()
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
                    {
                        Some(address(name).ok_or_else(|| {
                            format!(
                                "{{{name}}} in '{word}': no host of the lab is named {name} (hosts: {})",
                                names.join(", ")
                            )
                        })?)
                    }
                    _ => None,
                };
                match value {
                    Some(v) => out.push_str(&v),
                    // Not a placeholder (`{}`, `${x}`, JSON): kept as written.
                    None => out.push_str(&rest[open..=open + close]),
                }
                rest = &rest[open + close + 1..];
            }
            out.push_str(rest);
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_addresses_and_unknown_hosts_are_named() {
        let t = Topology::named(["n1", "n2", "n3"]).unwrap();
        let addrs: Vec<_> = ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let words: Vec<String> = [
            "--listen",
            "{self}:7000",
            "--peers",
            "{peers}",
            "{n3}",
            "{hosts}",
            "{}",
            "a{b",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            fill(&words, &t, &addrs, "n2").unwrap(),
            [
                "--listen",
                "198.18.0.2:7000",
                "--peers",
                "198.18.0.1,198.18.0.3",
                "198.18.0.3",
                "198.18.0.1,198.18.0.2,198.18.0.3",
                "{}",
                "a{b"
            ]
        );
        let err = fill(&["{n9}".to_owned()], &t, &addrs, "n1").unwrap_err();
        assert!(err.contains("n9") && err.contains("n1, n2, n3"), "{err}");
    }
}
