//! Evaluates an expression against the template's data, with the reference's
//! lookup rules: names resolve in `$data` (the current scope) unless they start
//! with `$`; property names match case-insensitively; a path that resolves to
//! nothing becomes the text `${path}` when substitution is on (the reference's
//! `nullSubstitution`), which conditions and comparisons turn off.

use serde_json::Value;

use super::ast::Expr;
use super::functions;
use super::value::{js_number, js_slice, js_to_string, parse_int, Val};

/// What the names of an expression can see.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub root: &'a Value,
    /// The current `$data` (the root until a `$data` changes it).
    pub data: &'a Value,
    /// Set inside an element repeated over an array.
    pub index: Option<usize>,
    pub host: Option<&'a Value>,
}

/// An evaluation error, worded like the reference's where it matters.
pub type EvalResult = Result<Val, String>;

pub fn evaluate(expr: &Expr, scope: &Scope<'_>, substitute: bool) -> EvalResult {
    match expr {
        Expr::Number(n) => Ok(Some(super::value::num(*n))),
        Expr::Str(s) => Ok(Some(Value::String(s.clone()))),
        Expr::Accessor { .. } => accessor(expr, scope, substitute),
        Expr::Element { base, index } => element(base, index, scope, substitute),
        Expr::Call { name, args } => functions::call(name, args, scope, substitute),
        Expr::Unary { op, operand } => {
            let name = match *op {
                "!" => "not",
                "-" => "-",
                _ => "+",
            };
            functions::call(name, std::slice::from_ref(operand), scope, substitute)
        }
        Expr::Binary { op, left, right } => {
            let name = match *op {
                "&&" => "and",
                "||" => "or",
                other => other,
            };
            functions::call(name, &[(**left).clone(), (**right).clone()], scope, substitute)
        }
        Expr::Ternary { condition, then, otherwise } => {
            functions::call("if", &[(**condition).clone(), (**then).clone(), (**otherwise).clone()], scope, substitute)
        }
        Expr::Array(items) => functions::call("createArray", items, scope, substitute),
    }
}

/// `a.b[0].c`: the chain is turned into one path and looked up at once, so a
/// missing step yields undefined (then `${a.b[0].c}`) instead of an error.
fn accessor(expr: &Expr, scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let mut path = String::new();
    let mut node = Some(expr);
    while let Some(current) = node {
        match current {
            Expr::Accessor { name, base } => {
                path = format!("{name}.{path}");
                node = base.as_deref();
            }
            Expr::Element { base, index } => {
                let key = evaluate(index, scope, substitute)?;
                let key_text = key.as_ref().map(js_to_string);
                match (&key, key_text) {
                    (Some(Value::Null), _) | (None, _) => {
                        return Err(format!("{index} doesn't return an int or string"));
                    }
                    (_, Some(text)) if parse_int(&text).is_some() => path = format!("[{text}].{path}"),
                    (Some(Value::String(s)), _) => path = format!("['{s}'].{path}"),
                    _ => return Err(format!("{index} doesn't return an int or string")),
                }
                node = Some(base);
            }
            _ => break,
        }
    }
    let path = path.trim_end_matches('.').replace(".[", "[");
    let found = match node {
        None => lookup_in_scope(scope, &path),
        Some(left) => {
            let base = evaluate(left, scope, substitute)?;
            lookup(base.as_ref(), &path)
        }
    };
    Ok(match found {
        Some(v) => Some(v),
        None if substitute => Some(Value::String(format!("${{{path}}}"))),
        None => None,
    })
}

/// `base[index]` outside a property path: strict, an index out of range is an error.
fn element(base: &Expr, index: &Expr, scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let instance = evaluate(base, scope, substitute)?;
    let key = evaluate(index, scope, false)?;
    match key {
        Some(Value::Number(n)) if n.as_f64().is_some_and(super::value::is_integer) => {
            let i = n.as_f64().unwrap_or(-1.0);
            match instance {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Array(items)) => {
                    if i >= 0.0 && (i as usize) < items.len() {
                        Ok(Some(items[i as usize].clone()))
                    } else {
                        Err(format!("{} is out of range for {}", js_number(i), js_to_string(&Value::Array(items))))
                    }
                }
                Some(other) => Err(format!("{} is not a collection.", js_to_string(&other))),
            }
        }
        Some(Value::String(name)) => Ok(property(instance.as_ref(), &name)),
        _ => Err(format!("Could not coerce {index} to an int or string.")),
    }
}

/// The names a template expression can start from besides `$data`'s properties.
const MEMORY_NAMES: &[&str] = &["$root", "$data", "$index", "$host", "$_acTemplateVersion"];

fn lookup_in_scope(scope: &Scope<'_>, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    let full = if path.starts_with('$') { path.to_string() } else { format!("$data.{path}") };
    let segments = split_path(&full);
    let (first, rest) = segments.split_first()?;
    let name = MEMORY_NAMES.iter().find(|n| n.eq_ignore_ascii_case(first))?;
    let version;
    let start: Value = match *name {
        "$root" => scope.root.clone(),
        "$data" => scope.data.clone(),
        "$index" => Value::from(scope.index?),
        "$host" => scope.host?.clone(),
        _ => {
            version = serde_json::json!({"major": 2, "minor": 3, "patch": 1, "suffix": ""});
            version
        }
    };
    walk(Some(&start), rest)
}

/// A path looked up in a value (the scope of an expression like `first(items).name`).
fn lookup(base: Option<&Value>, path: &str) -> Option<Value> {
    if path.is_empty() {
        return None;
    }
    walk(base, &split_path(path))
}

fn walk(start: Option<&Value>, segments: &[String]) -> Option<Value> {
    let mut current = start?.clone();
    for segment in segments {
        let next = match (&current, parse_int(segment)) {
            (Value::Array(items), Some(i)) => {
                if i >= 0.0 && (i as usize) < items.len() {
                    Some(items[i as usize].clone())
                } else {
                    return None;
                }
            }
            _ => property(Some(&current), segment),
        };
        current = next?;
    }
    Some(current)
}

/// The reference splits paths on every run of `.`, `[` and `]` and strips quotes.
fn split_path(path: &str) -> Vec<String> {
    path.split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let quoted = s.len() >= 2
                && ((s.starts_with('\'') && s.ends_with('\'')) || (s.starts_with('"') && s.ends_with('"')));
            if quoted {
                s[1..s.len() - 1].to_string()
            } else {
                s.to_string()
            }
        })
        .collect()
}

/// `accessProperty`: nothing on a falsy value, the first key equal ignoring
/// case on an object, a character of a string by its index.
pub fn property(instance: Option<&Value>, name: &str) -> Option<Value> {
    match instance? {
        Value::Object(map) => map.iter().find(|(k, _)| k.to_lowercase() == name.to_lowercase()).map(|(_, v)| v.clone()),
        Value::String(s) if !s.is_empty() => {
            let i: usize = name.parse().ok()?;
            (i.to_string() == name && i < super::value::js_len(s)).then(|| Value::String(js_slice(s, i, i + 1)))
        }
        Value::Array(items) => {
            let i: usize = name.parse().ok()?;
            (i.to_string() == name).then(|| items.get(i).cloned()).flatten()
        }
        _ => None,
    }
}
