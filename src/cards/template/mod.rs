//! The Adaptive Cards Templating language, in Rust: `${expression}` strings,
//! `$data`, `$when`, `$root`, `$index`, `$host` and the Adaptive Expressions
//! functions drbot's templates use. Teams does not expand templates, the bot
//! does; the npm package `adaptivecards-templating` is the reference and
//! `tests/cards_reference.rs` holds this engine to its output.
//!
//! One import loop is kept on purpose: `eval.rs` calls the built-in
//! functions (`functions.rs`), and the functions evaluate their arguments
//! through `eval.rs`, lazily for `if`/`and`/`or` as the reference does. That
//! mutual recursion is the language itself; an interface between the two
//! would only hide it. Everything else reads the tree from `ast.rs`, so the
//! parser is imported by nobody but the expander.
//!
//! Never panics: every template and every data value yields a card or a
//! [`TemplateError`]. Expressions nest at most 32 deep and JSON 128 deep, and
//! an expansion stops at 200,000 output nodes, so hostile input cannot
//! exhaust the stack (the deepest accepted input is tested on a 1 MB stack)
//! or memory.
//!
//! Where this engine knowingly differs from the reference:
//! - only the functions in `functions.rs` exist; others (the lambda ones like
//!   `where`/`select`, dates, `{…}` object literals, `` ` `` strings inside
//!   expressions) fail as "Unknown function" or a syntax error;
//! - the reference also rejects some calls up front from the static types of
//!   literal arguments (`toUpper(1)`); here they fail when evaluated, so an
//!   embedded `${toUpper(1)}` is written back as text instead of failing;
//! - `formatNumber`'s locale argument is accepted and ignored (en-US).

mod ast;
mod eval;
mod expand;
mod functions;
mod lexer;
mod parser;
mod types;
mod value;

use serde_json::Value;

pub use parser::{parse_expression, Expr};

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("syntax error in `{expression}`: {problem}")]
    Syntax { expression: String, problem: String },
    #[error("`${{{expression}}}` failed: {message}")]
    Evaluation { expression: String, message: String },
    #[error("`${{{expression}}}` is null or undefined inside a text")]
    NullInText { expression: String },
    #[error("the template is nested too deeply")]
    TooDeep,
    #[error("the expanded card would be too large")]
    TooLarge,
}

/// A parsed template, ready to be bound to data any number of times.
#[derive(Clone, Debug)]
pub struct Template {
    root: expand::Node,
}

impl Template {
    /// Parses every expression of the template up front (a syntax error
    /// anywhere fails here, like the reference's constructor).
    pub fn parse(template: &Value) -> Result<Template, TemplateError> {
        Ok(Template { root: expand::prepare(template)? })
    }

    /// Binds the template to `data` (the `$root`).
    pub fn expand(&self, data: &Value) -> Result<Value, TemplateError> {
        self.expand_with_host(data, None)
    }

    /// Binds the template to `data`, with `$host` (host-provided data) available too.
    pub fn expand_with_host(&self, data: &Value, host: Option<&Value>) -> Result<Value, TemplateError> {
        let scope = eval::Scope { root: data, data, index: None, host };
        let mut out = expand::Expander::new().expand(&self.root, &scope)?.unwrap_or(Value::Null);
        value::normalize_numbers(&mut out);
        Ok(out)
    }
}

/// Parses and expands in one go.
pub fn expand(template: &Value, data: &Value) -> Result<Value, TemplateError> {
    Template::parse(template)?.expand(data)
}

#[cfg(test)]
mod tests;
