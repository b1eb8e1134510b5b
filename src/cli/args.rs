//! Flags that several commands share.

use faults::Backend;

/// Which link to build, and how to seed it: `run`, `lab` and `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct LinkArgs {
    /// Which link joins the hosts.
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Seed of the wire's random draws (the same seed, the same draws).
    #[arg(long, allow_hyphen_values = true)]
    pub seed: Option<u64>,
}

impl LinkArgs {
    /// The seed given, or one drawn now: a run records the seed it used,
    /// so that `--seed` can replay it.
    pub fn seed_or_drawn(&self) -> u64 {
        self.seed.unwrap_or_else(|| {
            let mut buf = [0u8; 8];
            std::fs::File::open("/dev/urandom")
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
                .map(|()| u64::from_le_bytes(buf))
                .unwrap_or_else(|_| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as u64)
                        ^ u64::from(std::process::id())
                })
        })
    }
}

/// `--hosts`: how many hosts (named h1 ... hN), or their names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsArg {
    Count(usize),
    Names(Vec<String>),
}

impl std::str::FromStr for HostsArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<usize>() {
            return match n {
                0 | 1 => Err(format!("{n}: two or more hosts")),
                n => Ok(HostsArg::Count(n)),
            };
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_owned()).collect();
        if names.len() < 2 {
            return Err(format!(
                "'{s}': a number of hosts (2 or more), or two or more names separated by commas"
            ));
        }
        faults::Topology::named(names.clone()).map_err(|e| e.to_string())?;
        Ok(HostsArg::Names(names))
    }
}

impl HostsArg {
    /// The hosts' names.
    pub fn names(&self) -> Vec<String> {
        match self {
            HostsArg::Count(n) => (1..=*n).map(|i| format!("h{i}")).collect(),
            HostsArg::Names(names) => names.clone(),
        }
    }
}

/// The `--at TIME STEP` pairs, as given.
pub fn steps(at: &[String]) -> Result<Vec<crate::timeline::Step>, crate::error::BadInput> {
    at.chunks(2)
        .map(|pair| match pair {
            [at, action] => crate::timeline::Step::parse(at, action),
            _ => Err("--at takes a time and an action".to_owned()),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| crate::error::BadInput::new("--at", e))
}

/// A folder to write into (`demo --out`, `bench --out`): one that is
/// there, or one that can be made (its nearest existing ancestor is a
/// folder), so that a bad path is refused before any work.
pub fn out_dir(text: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(text);
    if text.trim().is_empty() {
        return Err("empty: give a folder".into());
    }
    let mut at = path.as_path();
    loop {
        match std::fs::metadata(at) {
            Ok(m) if m.is_dir() => return Ok(path),
            Ok(_) => return Err(format!("'{}' is not a folder", at.display())),
            Err(_) => match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                // A relative path with nothing of it there: made in the
                // working folder.
                _ => return Ok(path),
            },
        }
    }
}

/// A folder that is there (`manpage --dir`), checked when the command
/// runs (a page shown in the book may name a folder of another machine).
pub fn existing_dir(path: &std::path::Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        _ if path.as_os_str().is_empty() => Err("empty: give a folder".into()),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("'{}' is not a folder", path.display())),
        Err(e) => Err(format!("'{}': {e}", path.display())),
    }
}

/// The impairment flags of `run`, `mesh` (and scenario files): each takes
/// its own value only, `--netem` any further netem arguments. With two
/// hosts they apply in `--direction`; with more, to every pair.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ImpairmentArgs {
    /// Loss per direction, e.g. 10%, or '10% 25%' with its correlation.
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::loss)]
    pub loss: Option<String>,
    /// Delay per direction, e.g. 50ms (with its unit).
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::delay)]
    pub delay: Option<String>,
    /// Jitter around the delay, e.g. 10ms, or '10ms 25%' with its
    /// correlation (needs --delay).
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::jitter)]
    pub jitter: Option<String>,
    /// Packets sent ahead of the delay, e.g. 25%, '25% 50%' with its
    /// correlation, '25% gap 5' (needs --delay).
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::reorder)]
    pub reorder: Option<String>,
    /// Packets duplicated, e.g. 5%.
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::duplicate)]
    pub duplicate: Option<String>,
    /// Packets with one bit flipped, e.g. 2%.
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::corrupt)]
    pub corrupt: Option<String>,
    /// Rate limit, e.g. 10mbit.
    #[arg(long, allow_hyphen_values = true, value_parser = super::run::values::rate)]
    pub rate: Option<String>,
    /// Any further netem arguments, e.g. "loss gemodel 1% 10%".
    #[arg(long, allow_hyphen_values = true)]
    pub netem: Option<String>,
}

impl ImpairmentArgs {
    fn netem_words(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("loss", &self.loss),
            ("reorder", &self.reorder),
            ("duplicate", &self.duplicate),
            ("corrupt", &self.corrupt),
            ("rate", &self.rate),
        ]
    }

    /// The impairment as netem arguments, from the flags.
    pub fn netem_args(&self) -> String {
        let mut words = Vec::new();
        if let Some(d) = &self.delay {
            words.push(format!("delay {d}"));
            if let Some(j) = &self.jitter {
                words.push(j.clone());
            }
        } else if let Some(j) = &self.jitter {
            words.push(format!("delay 0ms {j}"));
        }
        for (word, value) in self.netem_words() {
            if let Some(v) = value {
                words.push(format!("{word} {v}"));
            }
        }
        if let Some(n) = &self.netem {
            words.push(n.clone());
        }
        words.join(" ")
    }

    /// The impairment the flags spell, or netem's refusal, named by the
    /// flag that gave the faulty value.
    pub fn impairment(&self) -> Result<faults::Impairment, crate::error::BadInput> {
        self.netem_args()
            .parse()
            .map_err(|e| self.bad_impairment(e))
    }

    /// An impairment the flags spell that netem's grammar refuses, named by
    /// the flag that gave the faulty value.
    fn bad_impairment(&self, e: faults::Error) -> crate::error::BadInput {
        let mut given = vec![("delay", &self.delay), ("jitter", &self.jitter)];
        given.extend(self.netem_words());
        // The flag whose value the parser refused, else the one named like
        // the refused field; what neither finds came from --netem.
        let flag = match &e {
            faults::Error::Invalid { field, value, .. } => given
                .iter()
                .find(|(_, v)| v.as_deref() == Some(value.as_str()))
                .or_else(|| given.iter().find(|(name, v)| name == field && v.is_some()))
                .map_or("--netem".to_owned(), |(name, _)| format!("--{name}")),
            _ => "--netem".to_owned(),
        };
        crate::error::BadInput::new(flag, e.to_string())
    }
}
