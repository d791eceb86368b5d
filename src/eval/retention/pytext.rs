//! The Python string and number semantics the lmms-eval scorers rely on (`str.strip`,
//! `str.split`, `float(...)`, `round(x, n)`, positions in code points), so that the scorers
//! here take every branch the reference takes.

/// Python's `str.isspace` for one character: Unicode white space plus the four information
/// separators U+001C..U+001F (which Rust's `char::is_whitespace` leaves out).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `s.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.split()`: the words between runs of white space.
pub fn split_words(s: &str) -> Vec<&str> {
    s.split(is_space).filter(|w| !w.is_empty()).collect()
}

/// `len(s)`: the length in code points.
pub fn len(s: &str) -> usize {
    s.chars().count()
}

/// `s[:n]`: the first `n` code points.
pub fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// `s.capitalize()`: the first character upper-cased, the rest lower-cased.
pub fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.as_str().to_lowercase().chars())
            .collect(),
        None => String::new(),
    }
}

/// `float(s)`: surrounding white space, a sign, `inf`/`infinity`/`nan` in any case and
/// underscores between digits are accepted as Python accepts them; `None` where Python raises
/// `ValueError`.
pub fn float(s: &str) -> Option<f64> {
    let s = strip(s);
    let chars: Vec<char> = s.chars().collect();
    let mut plain = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '_' {
            let digit = |j: Option<&char>| j.is_some_and(|c| c.is_ascii_digit());
            if !(i > 0 && digit(chars.get(i - 1)) && digit(chars.get(i + 1))) {
                return None;
            }
            continue;
        }
        plain.push(c);
    }
    let body = plain.trim_start_matches(['+', '-']);
    if plain.len() - body.len() > 1 {
        return None;
    }
    // with the underscores gone, Rust's parser accepts what Python's does: decimal literals
    // with an exponent, and inf / infinity / nan in any case
    plain.parse().ok()
}

/// `round(x, digits)`: correctly rounded to `digits` decimals (ties to even on the exact
/// binary value), as Python's `round` does.
pub fn round(x: f64, digits: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    format!("{x:.digits$}").parse().unwrap_or(x)
}

/// `s.find(sub)` in code points, `-1` when absent.
pub fn find(s: &str, sub: &str) -> i64 {
    s.find(sub).map_or(-1, |at| char_index(s, at))
}

/// `s.rfind(sub)` in code points, `-1` when absent.
pub fn rfind(s: &str, sub: &str) -> i64 {
    s.rfind(sub).map_or(-1, |at| char_index(s, at))
}

fn char_index(s: &str, byte: usize) -> i64 {
    s[..byte].chars().count() as i64
}

/// A Python list literal of strings (`ast.literal_eval` of MMMU's `options`).
pub fn parse_python_list(text: &str) -> Result<Vec<String>, String> {
    let bad = |why: &str| Err(format!("not a Python list of strings ({why}): {text:?}"));
    let chars: Vec<char> = text.trim().chars().collect();
    if chars.first() != Some(&'[') || chars.last() != Some(&']') {
        return bad("no brackets");
    }
    let (mut items, mut i) = (Vec::new(), 1);
    let end = chars.len() - 1;
    loop {
        while i < end && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= end {
            break;
        }
        let quote = chars[i];
        if quote != '\'' && quote != '"' {
            return bad("an item is not a quoted string");
        }
        i += 1;
        let mut item = String::new();
        loop {
            match chars.get(i) {
                None => return bad("an unterminated string"),
                Some(&c) if c == quote => break,
                Some('\\') => {
                    i += 1;
                    match chars.get(i) {
                        Some('n') => item.push('\n'),
                        Some('t') => item.push('\t'),
                        Some('r') => item.push('\r'),
                        Some('\\') => item.push('\\'),
                        Some('\'') => item.push('\''),
                        Some('"') => item.push('"'),
                        Some('x') | Some('u') => {
                            let width = if chars[i] == 'x' { 2 } else { 4 };
                            let hex: String = chars.iter().skip(i + 1).take(width).collect();
                            let code = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                            match code {
                                Some(c) if hex.len() == width => item.push(c),
                                _ => return bad("a bad escape"),
                            }
                            i += width;
                        }
                        Some(&c) => {
                            item.push('\\');
                            item.push(c);
                        }
                        None => return bad("an unterminated string"),
                    }
                }
                Some(&c) => item.push(c),
            }
            i += 1;
        }
        items.push(item);
        i += 1;
        while i < end && chars[i].is_whitespace() {
            i += 1;
        }
        match chars.get(i) {
            Some(',') if i < end => i += 1,
            _ if i >= end => break,
            _ => return bad("items not separated by commas"),
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_and_round_as_in_python() {
        assert_eq!(float(" 1_000.5 "), Some(1000.5));
        assert_eq!(float("1__0"), None);
        assert_eq!(float("_1"), None);
        assert_eq!(float("+-1"), None);
        assert_eq!(float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(float("NaN").is_some_and(f64::is_nan));
        assert_eq!(float("1e5"), Some(1e5));
        assert_eq!(float("."), None);
        assert_eq!(float("5."), Some(5.0));
        assert_eq!(float("1,000"), None);
        // Python: round(0.125, 2) == 0.12, round(0.375, 2) == 0.38, round(2.675, 2) == 2.67
        assert_eq!(round(0.125, 2), 0.12);
        assert_eq!(round(0.375, 2), 0.38);
        assert_eq!(round(2.675, 2), 2.67);
        assert_eq!(round(-1.005, 2), -1.0);
    }

    #[test]
    fn text_helpers_count_code_points() {
        assert_eq!(strip("\u{1c} a \u{a0}"), "a");
        assert_eq!(split_words(" a\tb\n\nc "), vec!["a", "b", "c"]);
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(capitalize("cHART"), "Chart");
        assert_eq!(rfind("é a a", "a"), 4);
        assert_eq!(find("é a", "z"), -1);
    }

    #[test]
    fn python_list_literals_parse() {
        let parsed = parse_python_list(r#"['a cat', "it's", 'say \'hi\'', '\x41\n', ]"#);
        assert_eq!(parsed.unwrap(), vec!["a cat", "it's", "say 'hi'", "A\n"]);
        assert_eq!(parse_python_list("[]").unwrap(), Vec::<String>::new());
        assert!(parse_python_list("['a' 'b']").is_err());
        assert!(parse_python_list("['a', 3]").is_err());
        assert!(parse_python_list("'a'").is_err());
    }
}
