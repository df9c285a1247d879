//! Adaptive Expressions parsed into a tree, and template strings split into
//! text and `${…}` expressions.
//!
//! Operator precedence follows the npm `adaptive-expressions` grammar
//! (loosest first): `?:`, `??`, `||`, `&&`, `< <= > >=`, `&`, `== != <>`,
//! `+ -`, `* / %`, `^`, unary `! - +`, then `.name`, `[index]` and calls.
//! Note that `==` binds tighter than `<` there, as in the reference.

use std::fmt;

pub use super::ast::Expr;
use super::lexer::{string_literal, tokenize, Token};
use super::value::js_number;
use super::TemplateError;

/// Deep nesting is refused rather than risking the stack on hostile templates.
const MAX_DEPTH: usize = 32;

/// The reference engine writes a failed embedded expression back as `${<expression>}`
/// in this canonical form (binary operations parenthesised, strings single-quoted).
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write!(f, "{}", js_number(*n)),
            Expr::Str(s) => write!(f, "'{s}'"),
            Expr::Accessor { name, base: None } => write!(f, "{name}"),
            Expr::Accessor { name, base: Some(base) } => write!(f, "{base}.{name}"),
            Expr::Element { base, index } => write!(f, "{base}[{index}]"),
            Expr::Call { name, args } => match operator_of(name) {
                Some(op) if args.len() >= 2 => {
                    let parts: Vec<String> = args.iter().map(ToString::to_string).collect();
                    write!(f, "({})", parts.join(&format!(" {op} ")))
                }
                Some(op) => write!(f, "{op}({})", join(args)),
                None => write!(f, "{name}({})", join(args)),
            },
            Expr::Unary { op, operand } => write!(f, "{op}({operand})"),
            Expr::Binary { op, left, right } => write!(f, "({left} {op} {right})"),
            Expr::Ternary { condition, then, otherwise } => write!(f, "if({condition}, {then}, {otherwise})"),
            Expr::Array(items) => write!(f, "createArray({})", join(items)),
        }
    }
}

/// Built-ins whose reference type name is an operator (`div(a, b)` prints as `(a / b)`).
fn operator_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "add" => "+",
        "sub" => "-",
        "mul" => "*",
        "div" => "/",
        "mod" => "%",
        "equals" => "==",
        "and" => "&&",
        "or" => "||",
        "not" => "!",
        _ => return None,
    })
}

fn join(items: &[Expr]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// One piece of a template string.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

/// A template string after parsing.
#[derive(Clone, Debug, PartialEq)]
pub enum TemplateString {
    /// No `${` at all: used as is.
    Plain(String),
    /// Exactly one `${…}` and nothing else: the value keeps its JSON type.
    Single(Expr),
    /// Text and expressions: the result is a string.
    Mixed(Vec<Part>),
}

/// Parses a JSON string of a template. Text escapes: `\$` and `` \` `` stand
/// for the character; any other backslash pair is kept; a bare backtick is a
/// syntax error (the reference wraps the string in backticks).
pub fn parse_template_string(source: &str) -> Result<TemplateString, TemplateError> {
    if !source.contains("${") {
        return Ok(TemplateString::Plain(source.to_string()));
    }
    let chars: Vec<char> = source.chars().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                match chars.get(i + 1) {
                    Some(&c @ ('`' | '$')) => text.push(c),
                    Some(&c) if c != '\r' && c != '\n' => {
                        text.push('\\');
                        text.push(c);
                    }
                    _ => {
                        text.push('\\');
                        i += 1;
                        continue;
                    }
                }
                i += 2;
            }
            '`' => {
                return Err(TemplateError::Syntax {
                    expression: source.to_string(),
                    problem: "a backtick outside an expression".into(),
                })
            }
            '$' if chars.get(i + 1) == Some(&'{') => match template_end(&chars, i + 2) {
                Some(end) => {
                    let body: String = chars[i + 2..end].iter().collect();
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Expr(parse_expression(&body)?));
                    i = end + 1;
                }
                None => {
                    text.push('$');
                    i += 1;
                }
            },
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(match parts.as_slice() {
        [Part::Expr(expr)] => TemplateString::Single(expr.clone()),
        [] => TemplateString::Plain(String::new()),
        _ => TemplateString::Mixed(parts),
    })
}

/// The index of the `}` closing a `${` whose body starts at `start`, if the
/// body is a valid template body (non-empty, one line, braces only in strings).
fn template_end(chars: &[char], start: usize) -> Option<usize> {
    let mut j = start;
    while j < chars.len() {
        match chars[j] {
            '}' if j > start => return Some(j),
            '}' | '{' | '\r' | '\n' | '`' => return None,
            '\'' | '"' => j = string_literal(chars, j)?.1,
            _ => j += 1,
        }
    }
    None
}

/// Parses one expression (the text inside `${…}`).
pub fn parse_expression(source: &str) -> Result<Expr, TemplateError> {
    let tokens = tokenize(source)?;
    let mut parser = Parser { tokens, pos: 0, source, depth: 0 };
    let expr = parser.ternary()?;
    if parser.pos != parser.tokens.len() {
        return Err(parser.error("unexpected text after the expression"));
    }
    super::types::validate(&expr).map_err(|problem| parser.error(&problem))?;
    Ok(expr)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    source: &'a str,
    depth: usize,
}

/// Binary levels from loosest to tightest (the ternary and unary levels are separate).
const LEVELS: &[&[&str]] =
    &[&["??"], &["||"], &["&&"], &["<", "<=", ">", ">="], &["&"], &["==", "!=", "<>"], &["+", "-"], &["*", "/", "%"]];

impl Parser<'_> {
    fn error(&self, problem: &str) -> TemplateError {
        TemplateError::Syntax { expression: self.source.to_string(), problem: problem.to_string() }
    }

    fn peek_punct(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some(Token::Punct(p)) => Some(p),
            _ => None,
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), TemplateError> {
        if self.peek_punct() == Some(punct) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{punct}'")))
        }
    }

    fn enter(&mut self) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("the expression is nested too deeply"));
        }
        Ok(())
    }

    /// `c ? a : b` is left-associative in the reference grammar:
    /// `a ? b : c ? d : e` is `(a ? b : c) ? d : e`.
    fn ternary(&mut self) -> Result<Expr, TemplateError> {
        self.enter()?;
        let mut expr = self.binary(0)?;
        let mut chain = 0;
        while self.peek_punct() == Some("?") {
            self.pos += 1;
            self.enter()?;
            chain += 1;
            let then = self.ternary()?;
            self.expect(":")?;
            let otherwise = self.binary(0)?;
            expr = Expr::Ternary { condition: Box::new(expr), then: Box::new(then), otherwise: Box::new(otherwise) };
        }
        self.depth -= chain + 1;
        Ok(expr)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, TemplateError> {
        if level == LEVELS.len() {
            return self.power();
        }
        let mut left = self.binary(level + 1)?;
        // Each operator of a chain nests the tree one level deeper on the left.
        let mut chain = 0;
        while let Some(op) = self.peek_punct().filter(|p| LEVELS[level].contains(p)) {
            self.pos += 1;
            self.enter()?;
            chain += 1;
            let right = self.binary(level + 1)?;
            left = match op {
                "&" => Expr::Call { name: "concat".into(), args: vec![left, right] },
                "??" => Expr::Call { name: "coalesce".into(), args: vec![left, right] },
                "<>" => Expr::Binary { op: "!=", left: Box::new(left), right: Box::new(right) },
                _ => Expr::Binary { op, left: Box::new(left), right: Box::new(right) },
            };
        }
        self.depth -= chain;
        Ok(left)
    }

    /// `^` is right-associative and binds tighter than `*`.
    fn power(&mut self) -> Result<Expr, TemplateError> {
        let base = self.unary()?;
        if self.peek_punct() == Some("^") {
            self.pos += 1;
            self.enter()?;
            let exponent = self.power()?;
            self.depth -= 1;
            return Ok(Expr::Binary { op: "^", left: Box::new(base), right: Box::new(exponent) });
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, TemplateError> {
        if let Some(op @ ("!" | "-" | "+")) = self.peek_punct() {
            self.pos += 1;
            self.enter()?;
            let operand = self.unary()?;
            self.depth -= 1;
            // The reference reads `-x` as `0 - x` (and says so in its messages).
            if op == "-" {
                return Ok(Expr::Binary { op: "-", left: Box::new(Expr::Number(0.0)), right: Box::new(operand) });
            }
            return Ok(Expr::Unary { op, operand: Box::new(operand) });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, TemplateError> {
        let mut expr = self.primary()?;
        // Like operator chains, each `.name`, `[i]` or call nests one level deeper.
        let mut steps = 0;
        loop {
            if !matches!(self.peek_punct(), Some("." | "[" | "(")) {
                self.depth -= steps;
                return Ok(expr);
            }
            self.enter()?;
            steps += 1;
            match self.peek_punct() {
                Some(".") => {
                    self.pos += 1;
                    let Some(Token::Ident(name)) = self.tokens.get(self.pos).cloned() else {
                        return Err(self.error("expected a property name after '.'"));
                    };
                    self.pos += 1;
                    expr = Expr::Accessor { name, base: Some(Box::new(expr)) };
                }
                Some("[") => {
                    self.pos += 1;
                    let index = self.ternary()?;
                    self.expect("]")?;
                    expr = Expr::Element { base: Box::new(expr), index: Box::new(index) };
                }
                Some("(") => {
                    let Expr::Accessor { name, base: None } = expr else {
                        return Err(self.error("only a function name can be called"));
                    };
                    self.pos += 1;
                    let args = self.arguments(")")?;
                    super::functions::check_arity(&name, args.len()).map_err(|problem| self.error(&problem))?;
                    expr = Expr::Call { name, args };
                }
                _ => {}
            }
        }
    }

    fn arguments(&mut self, close: &str) -> Result<Vec<Expr>, TemplateError> {
        let mut args = Vec::new();
        if self.peek_punct() == Some(close) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.ternary()?);
            match self.peek_punct() {
                Some(",") => self.pos += 1,
                Some(p) if p == close => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(self.error(&format!("expected ',' or '{close}'"))),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, TemplateError> {
        let Some(token) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("the expression ends too early"));
        };
        self.pos += 1;
        match token {
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Str(s) => Ok(Expr::Str(s)),
            Token::Ident(name) => Ok(Expr::Accessor { name, base: None }),
            Token::Punct("(") => {
                let inner = self.ternary()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Punct("[") => Ok(Expr::Array(self.arguments("]")?)),
            Token::Punct(p) => Err(self.error(&format!("unexpected '{p}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_matches_the_reference_grammar() {
        assert_eq!(parse_expression("1 + 2 * 3").unwrap().to_string(), "(1 + (2 * 3))");
        assert_eq!(parse_expression("1 < 2 == true").unwrap().to_string(), "(1 < (2 == true))");
        assert_eq!(parse_expression("a || b && c").unwrap().to_string(), "(a || (b && c))");
        assert_eq!(parse_expression("2 ^ 3 ^ 2").unwrap().to_string(), "(2 ^ (3 ^ 2))");
        assert_eq!(parse_expression("-a.b[0]").unwrap().to_string(), "(0 - a.b[0])");
        assert_eq!(parse_expression("x ? 1 : y ? 2 : 3").unwrap().to_string(), "if(if(x, 1, y), 2, 3)");
        assert_eq!(parse_expression("x ? (y ? 1 : 2) : 3").unwrap().to_string(), "if(x, if(y, 1, 2), 3)");
        assert_eq!(parse_expression("div(a, mul(2, b))").unwrap().to_string(), "(a / (2 * b))");
        assert_eq!(parse_expression("not(a) && b").unwrap().to_string(), "(!(a) && b)");
    }

    #[test]
    fn calls_paths_and_arrays() {
        // Unknown functions parse (they fail when evaluated, as in the reference); arity is checked.
        assert!(parse_expression("count(where(items, 'a'))").is_ok());
        assert!(parse_expression("count(items, 'a')").is_err());
        assert_eq!(parse_expression("first(items).name").unwrap().to_string(), "first(items).name");
        assert_eq!(parse_expression("[1, 'a']").unwrap().to_string(), "createArray(1, 'a')");
    }

    #[test]
    fn template_strings_split_into_parts() {
        assert_eq!(parse_template_string("plain").unwrap(), TemplateString::Plain("plain".into()));
        assert!(matches!(parse_template_string("${a}").unwrap(), TemplateString::Single(_)));
        assert_eq!(
            parse_template_string("n=${a}!").unwrap(),
            TemplateString::Mixed(vec![
                Part::Text("n=".into()),
                Part::Expr(Expr::Accessor { name: "a".into(), base: None }),
                Part::Text("!".into())
            ])
        );
        // Not a template: kept as text, like the reference.
        assert_eq!(parse_template_string("${").unwrap(), TemplateString::Mixed(vec![Part::Text("${".into())]));
        assert_eq!(parse_template_string("\\${a}").unwrap(), TemplateString::Mixed(vec![Part::Text("${a}".into())]));
        assert_eq!(parse_template_string("${'}'}").unwrap(), TemplateString::Single(Expr::Str("}".into())));
        assert!(parse_template_string("`${a}").is_err());
        assert!(parse_template_string("${a +}").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let chain = vec!["1"; 200].join(" + ");
        assert!(parse_expression(&chain).is_err());
        let path = format!("a{}", ".b".repeat(200));
        assert!(parse_expression(&path).is_err());
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse_expression(&deep).is_err());
        let unary = format!("{}1", "!".repeat(500));
        assert!(parse_expression(&unary).is_err());
    }
}
