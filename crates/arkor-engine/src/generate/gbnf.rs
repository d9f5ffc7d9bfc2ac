//! GBNF (llama.cpp's EBNF: `root ::= "a" | [0-9]+`), which vLLM users send as a
//! `grammar`, rewritten into the Lark dialect llguidance compiles: one rule per line,
//! `root` as `start`, character classes and `.` as regex terminals, `-` in names as `_`.

/// Whether a grammar is GBNF rather than Lark (Lark defines rules with `:`).
pub(crate) fn is_gbnf(src: &str) -> bool {
    src.contains("::=")
}

#[derive(Debug, PartialEq)]
enum Tok {
    /// A rule name, already in Lark's spelling.
    Name(String),
    Define,
    /// Anything copied as it is: a string literal, a regex terminal, an operator.
    Raw(String),
}

/// The Lark text of a GBNF grammar; an error says where it stops making sense.
pub(crate) fn gbnf_to_lark(src: &str) -> Result<String, String> {
    let toks = tokenize(src)?;
    let mut out = String::new();
    let mut i = 0;
    while i < toks.len() {
        let Tok::Name(name) = &toks[i] else { return Err(format!("expected a rule name before {:?}", toks[i])) };
        if toks.get(i + 1) != Some(&Tok::Define) {
            return Err(format!("expected ::= after {name}"));
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(name);
        out.push(':');
        i += 2;
        // The body runs to the next `name ::=`.
        while i < toks.len() && !(matches!(toks[i], Tok::Name(_)) && toks.get(i + 1) == Some(&Tok::Define)) {
            out.push(' ');
            match &toks[i] {
                Tok::Name(n) | Tok::Raw(n) => out.push_str(n),
                Tok::Define => return Err("::= inside a rule body".into()),
            }
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("the grammar has no rules".into());
    }
    Ok(out)
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    // Copies a delimited run (string literal or class) with its backslash escapes.
    let delimited = |i: &mut usize, close: char| -> Result<String, String> {
        let start = *i;
        *i += 1;
        while *i < chars.len() && chars[*i] != close {
            *i += if chars[*i] == '\\' { 2 } else { 1 };
        }
        if *i >= chars.len() {
            return Err(format!("unterminated {} starting at character {start}", if close == '"' { "string" } else { "character class" }));
        }
        *i += 1;
        Ok(chars[start..*i].iter().collect())
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '"' => toks.push(Tok::Raw(delimited(&mut i, '"')?)),
            '[' => {
                let class = delimited(&mut i, ']')?;
                toks.push(Tok::Raw(format!("/{}/", class.replace('/', "\\/"))));
            }
            '.' => {
                toks.push(Tok::Raw("/(?s:.)/".into()));
                i += 1;
            }
            ':' if chars.get(i + 1) == Some(&':') && chars.get(i + 2) == Some(&'=') => {
                toks.push(Tok::Define);
                i += 3;
            }
            '|' | '(' | ')' | '*' | '+' | '?' => {
                toks.push(Tok::Raw(c.to_string()));
                i += 1;
            }
            '{' => {
                let start = i;
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("unterminated repetition starting at character {start}"));
                }
                i += 1;
                toks.push(Tok::Raw(chars[start..i].iter().collect::<String>().replace(' ', "")));
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '-' || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect::<String>().replace('-', "_").to_lowercase();
                toks.push(Tok::Name(if name == "root" { "start".into() } else { name }));
            }
            other => return Err(format!("unexpected {other:?} at character {i}")),
        }
    }
    Ok(toks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_become_one_lark_line_each() {
        let g = "root ::= \"zero\" | \"one\"  # digits\n  | digit-list\ndigit-list ::= [0-9]+ (\",\" [0-9]){0, 3} .";
        assert!(is_gbnf(g));
        assert_eq!(gbnf_to_lark(g).unwrap(), "start: \"zero\" | \"one\" | digit_list\ndigit_list: /[0-9]/ + ( \",\" /[0-9]/ ) {0,3} /(?s:.)/");
        assert!(gbnf_to_lark("root ::= \"open").unwrap_err().contains("unterminated string"));
        assert!(gbnf_to_lark("\"x\" ::= y").is_err());
    }
}
