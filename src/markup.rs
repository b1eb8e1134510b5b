//! Text made safe inside HTML and XML (the demo's page, JUnit reports).

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, and the control
/// characters XML 1.0 cannot hold (all but tab, newline and carriage
/// return) left out: safe in element text and in quoted attributes of
/// both HTML and XML.
pub fn escape(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || *c >= ' ')
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_control_characters_never_pass_through() {
        assert_eq!(
            super::escape("<a href=\"x\">'&'</a>\u{1}\n"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;\n"
        );
    }
}
