//! The README, the book (docs/src/) and the CHANGELOG, checked as code is:
//! every relative link and anchor resolves, every chapter is in the book's
//! summary, every `badnet` command shown parses with badnet's own command
//! line (flags, values and netem specs), every flag in a synopsis is one
//! badnet takes, every scenario shown in TOML is a `badnet run` that
//! parses, every flag given to one of the lecture's
//! programs is one it takes, and every `make` target named exists. The
//! README's Rust example compiles as a doctest (`src/lib.rs`,
//! `ReadmeDoctests`); Rust in the book is included from files that build.
//!
//! No root, no network, no mdbook: `make docs` builds the HTML.

mod support;

use support::badnet_with_programs;

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use clap::error::ErrorKind;
use clap::CommandFactory;
use regex::Regex;

/// The README is a door: what badnet shows, the two commands, a tour, a
/// map, and links into the book.
const README_MAX_LINES: usize = 200;

/// Shells and what a command block may be tagged with.
const SHELL_LANGS: [&str; 4] = ["sh", "bash", "shell", "console"];

/// The lecture's programs, installed beside `badnet`.
const PROGRAMS: [&str; 4] = ["udp-server", "udp-client", "tcp-server", "tcp-client"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One Markdown file: its lines, its fenced blocks, its prose.
struct Doc {
    path: PathBuf,
    text: String,
    /// (language, first line number, lines) of each fenced block.
    blocks: Vec<(String, usize, Vec<String>)>,
    /// (line number, line) outside fenced blocks.
    prose: Vec<(usize, String)>,
}

impl Doc {
    fn read(path: PathBuf) -> Doc {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut blocks = Vec::new();
        let mut prose = Vec::new();
        let mut open: Option<(String, String, usize, Vec<String>)> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let trimmed = line.trim_start();
            match &mut open {
                Some((fence, _, _, lines)) => {
                    if trimmed.starts_with(fence.as_str())
                        && trimmed
                            .trim_start_matches(fence.chars().next().unwrap())
                            .trim()
                            .is_empty()
                    {
                        let (_, lang, start, lines) = open.take().unwrap();
                        blocks.push((lang, start, lines));
                    } else {
                        lines.push(line.to_owned());
                    }
                }
                None => {
                    if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                        let c = trimmed.chars().next().unwrap();
                        let fence: String = trimmed.chars().take_while(|&x| x == c).collect();
                        let lang = trimmed[fence.len()..].trim().to_owned();
                        open = Some((fence, lang, n, Vec::new()));
                    } else {
                        prose.push((n, line.to_owned()));
                    }
                }
            }
        }
        assert!(
            open.is_none(),
            "{}: a code block is never closed",
            path.display()
        );
        Doc {
            path,
            text,
            blocks,
            prose,
        }
    }

    fn name(&self) -> String {
        self.path
            .strip_prefix(root())
            .unwrap_or(&self.path)
            .display()
            .to_string()
    }

    /// The anchors of its headings, as mdbook and GitHub make them.
    fn anchors(&self) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        for (_, line) in &self.prose {
            let Some(title) = heading(line) else { continue };
            let id = slug(&title);
            let mut unique = id.clone();
            let mut k = 1;
            while seen.contains(&unique) {
                unique = format!("{id}-{k}");
                k += 1;
            }
            seen.insert(unique);
        }
        seen
    }

    /// (line number, text) of each inline code span in its prose.
    fn code_spans(&self) -> Vec<(usize, String)> {
        let span = Regex::new(r"`([^`]+)`").unwrap();
        self.prose
            .iter()
            .flat_map(|(n, line)| {
                span.captures_iter(line)
                    .map(|c| (*n, c[1].to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// (line number, target) of each link and image in its prose.
    fn links(&self) -> Vec<(usize, String)> {
        let code = Regex::new(r"`[^`]*`").unwrap();
        let inline = Regex::new(r#"\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#).unwrap();
        let reference = Regex::new(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)").unwrap();
        let mut links = Vec::new();
        for (n, line) in &self.prose {
            let line = code.replace_all(line, "``");
            for c in inline.captures_iter(&line) {
                links.push((*n, c[1].to_owned()));
            }
            if let Some(c) = reference.captures(&line) {
                links.push((*n, c[1].to_owned()));
            }
        }
        links
    }
}

/// The title of a heading line, without its markup.
fn heading(line: &str) -> Option<String> {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
        return None;
    }
    let link = Regex::new(r"\[([^\]]*)\]\([^)]*\)").unwrap();
    let title = link.replace_all(line[hashes..].trim(), "$1");
    Some(title.replace(['`', '*'], ""))
}

/// mdbook's `normalize_id` (GitHub's is the same for these titles).
fn slug(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_ascii_lowercase())
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// README.md, CHANGELOG.md and every Markdown file of the book.
fn all_docs() -> Vec<Doc> {
    let mut paths = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    paths.extend(chapters());
    paths.into_iter().map(Doc::read).collect()
}

fn book_src() -> PathBuf {
    root().join("docs/src")
}

fn chapters() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(book_src())
        .expect("docs/src")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    paths
}

/// `a/b/../c` as `a/c`, without touching the file system (symbolic links
/// stay where they are, as they do in the book's HTML).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Why a link from `doc` to `target` is broken, if it is.
fn broken(doc: &Doc, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((f, a)) => (f, Some(a)),
        None => (target, None),
    };
    let dest = if file.is_empty() {
        doc.path.clone()
    } else {
        normalize(&doc.path.parent().unwrap().join(file))
    };
    if !dest.exists() {
        return Some(format!("{target}: no such file"));
    }
    // The book's HTML holds only what is under docs/src.
    if doc.path.starts_with(book_src()) && !dest.starts_with(book_src()) {
        return Some(format!(
            "{target}: outside docs/src, so not in the book's HTML"
        ));
    }
    let anchor = anchor?;
    if !dest.extension().is_some_and(|e| e == "md") {
        return Some(format!(
            "{target}: an anchor into a file that is not Markdown"
        ));
    }
    let anchors = Doc::read(dest).anchors();
    (!anchors.contains(anchor)).then(|| format!("{target}: no heading with the anchor #{anchor}"))
}

fn fail_on(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        for (n, target) in doc.links() {
            if let Some(why) = broken(&doc, &target) {
                problems.push(format!("{}:{n}: {why}", doc.name()));
            }
        }
    }
    fail_on(problems, "broken links");
}

#[test]
fn every_chapter_is_in_the_summary() {
    let summary = Doc::read(book_src().join("SUMMARY.md"));
    let listed: BTreeSet<PathBuf> = summary
        .links()
        .into_iter()
        .map(|(_, t)| normalize(&book_src().join(t.split('#').next().unwrap())))
        .collect();
    let problems = chapters()
        .into_iter()
        .filter(|p| !p.ends_with("SUMMARY.md") && !listed.contains(p))
        .map(|p| {
            format!(
                "{} is not in SUMMARY.md, so the book leaves it out",
                p.display()
            )
        })
        .collect();
    fail_on(problems, "chapters outside the book");
}

/// A command line split into words as a shell would (quotes, backslashes,
/// comments), cut into commands at `|`, `;` and `&`, redirections dropped.
fn shell_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word: Option<String> = None;
    let mut redirect = false;
    let mut chars = line.chars().peekable();
    let end_word =
        |word: &mut Option<String>, commands: &mut Vec<Vec<String>>, redirect: &mut bool| {
            if let Some(w) = word.take() {
                if *redirect {
                    *redirect = false;
                } else {
                    commands.last_mut().unwrap().push(w);
                }
            }
        };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            w.push(chars.next().unwrap());
                        }
                        _ => w.push(q),
                    }
                }
            }
            '\\' => {
                if let Some(q) = chars.next() {
                    word.get_or_insert_with(String::new).push(q);
                }
            }
            '#' if word.is_none() => break,
            '|' | ';' | '&' => {
                end_word(&mut word, &mut commands, &mut redirect);
                if c == '&' && redirect {
                    // `2>&1`: the descriptor is the redirection's target.
                    continue;
                }
                commands.push(Vec::new());
            }
            '>' | '<' => {
                if word
                    .as_deref()
                    .is_some_and(|w| w.chars().all(|d| d.is_ascii_digit()))
                {
                    word = None;
                }
                end_word(&mut word, &mut commands, &mut redirect);
                redirect = true;
                if chars.peek() == Some(&'&') {
                    chars.next();
                    word = Some(String::new());
                }
            }
            c if c.is_whitespace() => end_word(&mut word, &mut commands, &mut redirect),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    end_word(&mut word, &mut commands, &mut redirect);
    commands
        .into_iter()
        .map(|words| {
            // Leading assignments (`BADNET_KEEP=1 badnet ...`) and sudo.
            let skip = words
                .iter()
                .take_while(|w| w.as_str() == "sudo" || is_assignment(w))
                .count();
            words[skip..].to_vec()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// (where, argv) of every command in the shell blocks of every document:
/// each line of a `sh` block (lines ending in `\` joined), each `$ ` line
/// of a `console` block.
fn shown_commands() -> Vec<(String, Vec<String>)> {
    let mut shown = Vec::new();
    for doc in all_docs() {
        for (lang, start, lines) in &doc.blocks {
            let lang = lang.split([',', ' ']).next().unwrap_or("");
            if !SHELL_LANGS.contains(&lang) {
                continue;
            }
            let mut joined: Vec<(usize, String)> = Vec::new();
            let mut continued = false;
            for (i, line) in lines.iter().enumerate() {
                let n = start + 1 + i;
                let text = if lang == "console" && !continued {
                    match line.strip_prefix("$ ") {
                        Some(cmd) => cmd,
                        None => continue,
                    }
                } else {
                    line.as_str()
                };
                let (text, more) = match text.trim_end().strip_suffix('\\') {
                    Some(t) => (t, true),
                    None => (text, false),
                };
                if continued {
                    let last = joined.last_mut().unwrap();
                    last.1.push(' ');
                    last.1.push_str(text);
                } else {
                    joined.push((n, text.to_owned()));
                }
                continued = more;
            }
            for (n, line) in joined {
                for argv in shell_commands(&line) {
                    shown.push((format!("{}:{n}", doc.name()), argv));
                }
            }
        }
    }
    shown
}

/// Words that stand for something to fill in: not a command to run.
fn placeholder(argv: &[String]) -> Option<&String> {
    argv.iter()
        .find(|w| w.starts_with('[') || w.starts_with('<') || w.contains("...") || w.contains('…'))
}

fn program(argv: &[String]) -> &str {
    argv[0].rsplit('/').next().unwrap()
}

/// Why `badnet ARGS` is not a command badnet takes, if it is not: clap's
/// own parser (flags, their values, what they require), then the netem
/// specs given to `--impair` and `--netem` as the faults crate parses
/// them, and the steps of `--at` as a timeline does.
fn refused(argv: &[String]) -> Option<String> {
    let matches = match badnet::cli::Cli::command().try_get_matches_from(argv) {
        Ok(m) => m,
        // `--help` and `--version` are commands too.
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return None
        }
        Err(e) => {
            return Some(
                e.render()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            )
        }
    };
    let (_, sub) = matches.subcommand()?;
    let one = |id: &str| sub.try_get_one::<String>(id).ok().flatten().cloned();
    let mut specs: Vec<(String, String)> = Vec::new();
    if let Some(s) = one("impair") {
        specs.push(("--impair".into(), s));
    }
    if let Some(s) = one("netem") {
        specs.push(("--netem".into(), s));
    }
    for (flag, word) in [
        ("--loss", "loss"),
        ("--duplicate", "duplicate"),
        ("--corrupt", "corrupt"),
        ("--rate", "rate"),
    ] {
        if let Some(v) = one(word) {
            specs.push((flag.into(), format!("{word} {v}")));
        }
    }
    if let Some(delay) = one("delay") {
        let jitter = one("jitter").unwrap_or_default();
        specs.push(("--delay".into(), format!("delay {delay} {jitter}")));
        if let Some(r) = one("reorder") {
            specs.push(("--reorder".into(), format!("delay {delay} reorder {r}")));
        }
    }
    if let Ok(Some(at)) = sub.try_get_many::<String>("at") {
        let at: Vec<&String> = at.collect();
        for step in at.chunks(2) {
            if let [time, action] = step {
                if let Err(e) = badnet::timeline::Step::parse(time, action) {
                    return Some(format!("--at {time} {action:?}: {e}"));
                }
            }
        }
    }
    specs.into_iter().find_map(|(flag, spec)| {
        spec.trim()
            .parse::<faults::Impairment>()
            .err()
            .map(|e| format!("{flag} {spec:?}: {e}"))
    })
}

#[test]
fn every_badnet_command_shown_parses() {
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut lines: Vec<(String, Vec<String>)> = shown_commands();
    // Commands named in prose, flags and all (`badnet run udp --loss 10%`).
    for doc in all_docs() {
        for (n, span) in doc.code_spans() {
            if span.starts_with("badnet ") && span.contains(" --") {
                for argv in shell_commands(&span) {
                    lines.push((format!("{}:{n}", doc.name()), argv));
                }
            }
        }
    }
    for (at, argv) in lines {
        if program(&argv) != "badnet" {
            continue;
        }
        checked += 1;
        if let Some(word) = placeholder(&argv) {
            problems.push(format!(
                "{at}: `{}`: {word} is a placeholder; a synopsis goes in a text block",
                argv.join(" ")
            ));
        } else if let Some(why) = refused(&argv) {
            problems.push(format!("{at}: `{}`: {why}", argv.join(" ")));
        }
    }
    assert!(checked >= 10, "only {checked} badnet commands found");
    fail_on(problems, "badnet commands that do not parse");
}

/// (where, text) of each synopsis: a line of a `text` block that starts
/// with `badnet `, with the indented lines that continue it.
fn synopses() -> Vec<(String, String)> {
    let mut found = Vec::new();
    for doc in all_docs() {
        for (lang, start, lines) in &doc.blocks {
            if lang != "text" {
                continue;
            }
            let mut open = false;
            for (i, line) in lines.iter().enumerate() {
                if line.starts_with("badnet ") {
                    found.push((format!("{}:{}", doc.name(), start + 1 + i), line.clone()));
                    open = true;
                } else if open && line.starts_with(char::is_whitespace) {
                    let last: &mut (String, String) = found.last_mut().unwrap();
                    last.1.push_str(line);
                } else {
                    open = false;
                }
            }
        }
    }
    found
}

#[test]
fn every_flag_in_a_synopsis_is_one_badnet_takes() {
    let flag = Regex::new(r"--[a-z][a-z0-9-]*").unwrap();
    let cli = badnet::cli::Cli::command();
    let mut problems = Vec::new();
    for (at, synopsis) in synopses() {
        let sub = synopsis.split_whitespace().nth(1).unwrap_or("");
        let Some(command) = cli.find_subcommand(sub) else {
            problems.push(format!("{at}: badnet has no command `{sub}`"));
            continue;
        };
        let longs: BTreeSet<&str> = command
            .get_arguments()
            .filter_map(|a| a.get_long())
            .chain(["help"])
            .collect();
        for m in flag.find_iter(&synopsis) {
            if !longs.contains(&m.as_str()[2..]) {
                problems.push(format!("{at}: `badnet {sub}` has no flag {}", m.as_str()));
            }
        }
    }
    fail_on(problems, "synopses naming flags that do not exist");
}

/// The `badnet run` a scenario of a file stands for: every key but `name`
/// and `expect` is a flag (`receiver_rate` is `--receiver-rate`, a switch
/// is `true`, `at` a list of steps), `transport` the probe.
fn scenario_argv(scenario: &toml::Table) -> Result<Vec<String>, String> {
    let mut argv = vec!["badnet".to_owned(), "run".to_owned()];
    for (key, value) in scenario {
        let flag = format!("--{}", key.replace('_', "-"));
        match (key.as_str(), value) {
            ("name" | "expect", _) => {}
            ("transport", toml::Value::String(t)) => argv.insert(2, t.clone()),
            ("at", toml::Value::Array(steps)) => {
                for step in steps {
                    let words = step.as_array().ok_or("at: a list of [TIME, ACTION]")?;
                    argv.push(flag.clone());
                    for w in words {
                        argv.push(w.as_str().ok_or("at: strings")?.to_owned());
                    }
                }
            }
            (_, toml::Value::Boolean(true)) => argv.push(flag),
            (_, toml::Value::Boolean(false)) => {}
            (_, toml::Value::String(s)) => argv.extend([flag, s.clone()]),
            (_, toml::Value::Integer(_) | toml::Value::Float(_)) => {
                argv.extend([flag, value.to_string()]);
            }
            _ => return Err(format!("{key}: not a value a flag takes")),
        }
    }
    Ok(argv)
}

/// Why `badnet test --check` refuses the scenario file `text` (with the
/// lecture's programs on PATH, as after make install), if it does.
fn checked_file(text: &str) -> Option<String> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!("badnet-docs-{}-{n}.toml", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = badnet_with_programs()
        .args(["test", "--check"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    (!out.status.success()).then(|| String::from_utf8_lossy(&out.stderr).trim().to_owned())
}

#[test]
fn every_scenario_shown_is_a_badnet_run() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for doc in all_docs() {
        for (lang, n, lines) in &doc.blocks {
            if lang != "toml" {
                continue;
            }
            let at = format!("{}:{n}", doc.name());
            let table: toml::Table = match lines.join("\n").parse() {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("{at}: not TOML: {e}"));
                    continue;
                }
            };
            let scenarios = table.get("scenario").and_then(|s| s.as_array());
            for scenario in scenarios.into_iter().flatten() {
                checked += 1;
                let Some(scenario) = scenario.as_table() else {
                    problems.push(format!("{at}: a scenario is a table"));
                    continue;
                };
                if !scenario.contains_key("name") {
                    problems.push(format!("{at}: a scenario without a name"));
                }
                if scenario.get("hosts").is_some_and(toml::Value::is_array) {
                    // Hosts and their programs: checked by badnet's own
                    // loader, as `badnet test --check` does.
                    problems
                        .extend(checked_file(&lines.join("\n")).map(|why| format!("{at}: {why}")));
                    continue;
                }
                match scenario_argv(scenario) {
                    Err(why) => problems.push(format!("{at}: {why}")),
                    Ok(argv) => {
                        if let Some(why) = refused(&argv) {
                            problems.push(format!("{at}: `{}`: {why}", argv.join(" ")));
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 0, "no scenario shown");
    fail_on(problems, "scenarios that are not a badnet run");
}

#[test]
fn every_flag_given_to_the_lectures_programs_is_taken() {
    let mut problems = Vec::new();
    for (at, argv) in shown_commands() {
        let name = program(&argv);
        if !PROGRAMS.contains(&name) {
            continue;
        }
        if let Some(word) = placeholder(&argv) {
            problems.push(format!("{at}: {word} is a placeholder"));
            continue;
        }
        // clap reads every flag and its value before it acts on --help:
        // an unknown flag or a bad value fails, a good line prints help.
        let bin = badnet::bins::locate(name).expect("the lecture's programs are built");
        let out = Command::new(bin)
            .args(&argv[1..])
            .arg("--help")
            .output()
            .expect("runs");
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            problems.push(format!(
                "{at}: `{}`: {}",
                argv.join(" "),
                err.lines().next().unwrap_or("")
            ));
        }
    }
    fail_on(problems, "programs' flags they do not take");
}

#[test]
fn every_make_target_named_exists() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter_map(|l| l.split_once(':').map(|(t, _)| t))
        .filter(|t| !t.is_empty() && !t.contains(['\t', ' ', '$', '=', '#', '.']))
        .collect();
    let mut problems = Vec::new();
    let mut spans = Vec::new();
    for doc in all_docs() {
        for (n, span) in doc.code_spans() {
            if span.starts_with("make ") {
                spans.push((format!("{}:{n}", doc.name()), span));
            }
        }
    }
    let commands = shown_commands()
        .into_iter()
        .chain(spans.into_iter().flat_map(|(at, span)| {
            shell_commands(&span)
                .into_iter()
                .map(move |argv| (at.clone(), argv))
        }));
    for (at, argv) in commands {
        if argv[0] != "make" {
            continue;
        }
        for word in argv[1..]
            .iter()
            .filter(|w| !w.starts_with('-') && !is_assignment(w))
        {
            if !targets.contains(word.as_str()) {
                problems.push(format!("{at}: the Makefile has no target `{word}`"));
            }
        }
    }
    fail_on(problems, "make targets that do not exist");
}

#[test]
fn the_readme_is_a_door() {
    let readme = Doc::read(root().join("README.md"));
    let lines = readme.text.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines; at most {README_MAX_LINES}: the rest belongs in the book"
    );
    let untagged: Vec<usize> = readme
        .blocks
        .iter()
        .filter(|(lang, _, _)| lang.is_empty())
        .map(|(_, n, _)| *n)
        .collect();
    assert!(
        untagged.is_empty(),
        "README.md: code blocks without a language (rustdoc compiles them as Rust) at lines {untagged:?}"
    );
}

#[test]
fn rust_in_the_book_comes_from_files_that_build() {
    let include = Regex::new(r"\{\{#(?:include|rustdoc_include)\s+([^}:\s]+)[^}]*\}\}").unwrap();
    let mut problems = Vec::new();
    for path in chapters() {
        let doc = Doc::read(path);
        for (lang, n, lines) in &doc.blocks {
            if lang.starts_with("rust")
                && lines
                    .iter()
                    .any(|l| !include.is_match(l) && !l.trim().is_empty())
            {
                problems.push(format!(
                    "{}:{n}: Rust written in the chapter: include it from a file that builds ({{{{#include ...}}}})",
                    doc.name()
                ));
            }
        }
        for c in include.captures_iter(&doc.text) {
            let file = normalize(&doc.path.parent().unwrap().join(&c[1]));
            if !file.is_file() {
                problems.push(format!(
                    "{}: {{{{#include {}}}}}: no such file",
                    doc.name(),
                    &c[1]
                ));
            }
        }
    }
    fail_on(problems, "Rust in the book");
}

#[test]
fn the_shell_splitter_splits_as_a_shell_does() {
    let words = |s: &str| shell_commands(s);
    assert_eq!(
        words(r#"BADNET_KEEP=1 badnet run --client "sh -c 'echo hi'" --at 1s 'loss 100%' # note"#),
        vec![vec![
            "badnet",
            "run",
            "--client",
            "sh -c 'echo hi'",
            "--at",
            "1s",
            "loss 100%"
        ]]
    );
    assert_eq!(
        words("badnet completions bash > /etc/x 2>&1 && make deb | tee log"),
        vec![
            vec!["badnet", "completions", "bash"],
            vec!["make", "deb"],
            vec!["tee", "log"]
        ]
    );
}
