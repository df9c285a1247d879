//! The template expander: walks the card JSON, evaluates strings with
//! `${…}`, repeats elements over `$data` arrays, drops elements whose `$when`
//! is not true, and removes the templating keywords from the result.
//!
//! The rules are those of the npm `adaptivecards-templating` package 2.3,
//! including its corner cases, because the tests hold the two to equal output:
//! - a whole-string expression keeps its type; `undefined` drops the property;
//! - in a mixed string a failing expression is written back as `${expr}`;
//!   null or undefined there fails the expansion (the reference throws);
//! - a whole-string `${concat(…)}` is joined as text by the engine;
//! - an element that expands to several (a `$data` array) is spliced into the
//!   enclosing array, `null` items are dropped from arrays;
//! - `$when` keeps an element only if it evaluates to the boolean `true`
//!   (without substitution); a `$when` that is not an expression drops the
//!   element when it is truthy.

use serde_json::{Map, Value};

use super::eval::{evaluate, Scope};
use super::parser::{parse_template_string, Expr, Part, TemplateString};
use super::value::{is_nullish, js_to_string, Val};
use super::TemplateError;

/// JSON nesting deeper than this is refused, as serde_json refuses to parse it.
const MAX_NESTING: usize = 128;
/// Output elements beyond this fail the expansion: nested `$data` arrays can
/// multiply, and a card is tiny anyway.
const MAX_OUTPUT_NODES: usize = 200_000;

const RESERVED: &[&str] = &["$data", "$when", "$root", "$index", "$host", "$_acTemplateVersion"];

/// A template with its strings parsed once.
#[derive(Clone, Debug)]
pub enum Node {
    Literal(Value),
    Text(TemplateString),
    Array(Vec<Node>),
    Object { entries: Vec<(String, Node)>, raw_data: Option<Value> },
}

pub fn prepare(value: &Value) -> Result<Node, TemplateError> {
    prepare_at(value, 0)
}

fn prepare_at(value: &Value, depth: usize) -> Result<Node, TemplateError> {
    if depth > MAX_NESTING {
        return Err(TemplateError::TooDeep);
    }
    Ok(match value {
        Value::String(s) => Node::Text(parse_template_string(s)?),
        Value::Array(items) => Node::Array(items.iter().map(|i| prepare_at(i, depth + 1)).collect::<Result<_, _>>()?),
        Value::Object(map) => Node::Object {
            entries: map.iter().map(|(k, v)| Ok((k.clone(), prepare_at(v, depth + 1)?))).collect::<Result<_, _>>()?,
            raw_data: map.get("$data").filter(|v| !v.is_string()).cloned(),
        },
        other => Node::Literal(other.clone()),
    })
}

pub struct Expander {
    produced: usize,
}

impl Expander {
    pub fn new() -> Self {
        Expander { produced: 0 }
    }

    fn count(&mut self) -> Result<(), TemplateError> {
        self.produced += 1;
        if self.produced > MAX_OUTPUT_NODES {
            return Err(TemplateError::TooLarge);
        }
        Ok(())
    }

    pub fn expand(&mut self, node: &Node, scope: &Scope<'_>) -> Result<Val, TemplateError> {
        self.count()?;
        match node {
            Node::Literal(v) => Ok(Some(v.clone())),
            Node::Text(TemplateString::Plain(s)) => Ok(Some(Value::String(s.clone()))),
            Node::Text(TemplateString::Single(Expr::Call { name, args })) if name == "concat" => {
                let parts: Vec<Part> = args.iter().cloned().map(Part::Expr).collect();
                join_parts(&parts, scope).map(Some)
            }
            // A constant alone is still joined as text by the reference: `${1}` gives "1".
            Node::Text(TemplateString::Single(expr @ (Expr::Number(_) | Expr::Str(_)))) => {
                join_parts(&[Part::Expr(expr.clone())], scope).map(Some)
            }
            Node::Text(TemplateString::Single(expr)) => evaluate(expr, scope, true)
                .map_err(|message| TemplateError::Evaluation { expression: expr.to_string(), message }),
            Node::Text(TemplateString::Mixed(parts)) => join_parts(parts, scope).map(Some),
            Node::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    match self.expand(item, scope)? {
                        Some(Value::Null) => {}
                        Some(Value::Array(many)) => out.extend(many),
                        Some(one) => out.push(one),
                        None => out.push(Value::Null),
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Node::Object { entries, raw_data } => self.object(entries, raw_data.as_ref(), scope),
        }
    }

    fn object(
        &mut self,
        entries: &[(String, Node)],
        raw_data: Option<&Value>,
        scope: &Scope<'_>,
    ) -> Result<Val, TemplateError> {
        let find = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, n)| n);
        let (contexts, is_array): (Vec<Val>, bool) = match (find("$data"), raw_data) {
            (None, _) => (vec![None], false),
            (Some(_), Some(raw)) => split_contexts(Some(raw.clone())),
            (Some(node), None) => {
                let value = self.expand(node, scope)?;
                split_contexts(value)
            }
        };
        let when = find("$when");
        let mut results = Vec::new();
        for (i, context) in contexts.iter().enumerate() {
            let mut inner = *scope;
            if is_array {
                inner.index = Some(i);
            }
            if let Some(data) = context {
                inner.data = data;
            }
            if !when_holds(when, &inner) {
                continue;
            }
            let mut object = Map::new();
            for (key, value) in entries {
                if RESERVED.contains(&key.as_str()) {
                    continue;
                }
                if let Some(v) = self.expand(value, &inner)? {
                    object.insert(key.clone(), v);
                }
            }
            results.push(Value::Object(object));
        }
        Ok(Some(match results.len() {
            0 => Value::Null,
            1 => results.pop().unwrap_or(Value::Null),
            _ => Value::Array(results),
        }))
    }
}

fn split_contexts(value: Val) -> (Vec<Val>, bool) {
    match value {
        Some(Value::Array(items)) => (items.into_iter().map(Some).collect(), true),
        other => (vec![other], false),
    }
}

fn when_holds(when: Option<&Node>, scope: &Scope<'_>) -> bool {
    match when {
        None => true,
        Some(Node::Text(TemplateString::Single(expr))) => {
            matches!(evaluate(expr, scope, false), Ok(Some(Value::Bool(true))))
        }
        Some(Node::Text(TemplateString::Mixed(_))) => false,
        Some(Node::Text(TemplateString::Plain(s))) => s.is_empty(),
        Some(Node::Literal(v)) => match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64().is_none_or(|x| x == 0.0 || x.is_nan()),
            _ => false,
        },
        Some(_) => false,
    }
}

/// The engine's own concatenation: text as is, each expression as its
/// `toString`, a failing one as `${expr}`; null or undefined is an error.
fn join_parts(parts: &[Part], scope: &Scope<'_>) -> Result<Value, TemplateError> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Expr(expr) => match evaluate(expr, scope, true) {
                Ok(value) if is_nullish(&value) => {
                    return Err(TemplateError::NullInText { expression: expr.to_string() })
                }
                Ok(value) => out.push_str(&value.as_ref().map(js_to_string).unwrap_or_default()),
                Err(_) => out.push_str(&format!("${{{expr}}}")),
            },
        }
    }
    Ok(Value::String(out))
}
