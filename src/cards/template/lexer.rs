//! Tokens of an Adaptive Expression (the text between `${` and `}`).
//!
//! The grammar is the one of the npm `adaptive-expressions` package
//! (ExpressionAntlrLexer.g4): numbers without exponent or sign, strings in
//! single or double quotes with backslash escapes, identifiers that may start
//! with `$` or `_`, and the operators below.

use super::TemplateError;

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Number(f64),
    Str(String),
    Ident(String),
    /// An operator or punctuation, spelled as in the source.
    Punct(&'static str),
}

/// Longest first, so `<=` wins over `<`.
const PUNCTUATION: &[&str] = &[
    "==", "!=", "<>", "<=", ">=", "&&", "||", "??", "+", "-", "*", "/", "%", "^", "&", "<", ">", "!", "(", ")", "[",
    "]", "{", "}", ",", ".", "?", ":",
];

/// Splits an expression into tokens; any character the grammar does not know is an error.
pub fn tokenize(source: &str) -> Result<Vec<Token>, TemplateError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value = text.parse::<f64>().map_err(|_| syntax(source, "a malformed number"))?;
            tokens.push(Token::Number(value));
            if i < chars.len() && (chars[i].is_alphabetic() || chars[i] == '_') {
                return Err(syntax(source, "a number directly followed by a name"));
            }
        } else if c == '\'' || c == '"' {
            let (text, next) = string_literal(&chars, i).ok_or_else(|| syntax(source, "an unterminated string"))?;
            tokens.push(Token::Str(text));
            i = next;
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' || c == '@' || c == '#' {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let Some(punct) = PUNCTUATION.iter().find(|p| rest.starts_with(**p)) else {
                return Err(syntax(source, &format!("the character '{c}'")));
            };
            tokens.push(Token::Punct(punct));
            i += punct.chars().count();
        }
    }
    Ok(tokens)
}

/// A quoted string starting at `start`; returns its unescaped text and the index after the closing quote.
pub fn string_literal(chars: &[char], start: usize) -> Option<(String, usize)> {
    let quote = chars[start];
    let mut text = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(match chars[i + 1] {
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    other => other,
                });
                i += 2;
            }
            c if c == quote => return Some((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    None
}

fn syntax(source: &str, what: &str) -> TemplateError {
    TemplateError::Syntax { expression: source.to_string(), problem: format!("unexpected {what}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_numbers_strings_and_names() {
        let tokens = tokenize("a.b[0] >= 2.5 && 'it\\'s' != \"x\"").unwrap();
        assert_eq!(
            tokens,
            vec![
                Token::Ident("a".into()),
                Token::Punct("."),
                Token::Ident("b".into()),
                Token::Punct("["),
                Token::Number(0.0),
                Token::Punct("]"),
                Token::Punct(">="),
                Token::Number(2.5),
                Token::Punct("&&"),
                Token::Str("it's".into()),
                Token::Punct("!="),
                Token::Str("x".into()),
            ]
        );
    }

    #[test]
    fn dollar_names_and_minus_are_separate() {
        assert_eq!(
            tokenize("$index-1").unwrap(),
            vec![Token::Ident("$index".into()), Token::Punct("-"), Token::Number(1.0)]
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(tokenize("'open").is_err());
        assert!(tokenize("a ; b").is_err());
        assert!(tokenize("1e3").is_err());
    }
}
