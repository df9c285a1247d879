//! The Adaptive Expressions built-in functions drbot's templates use, with
//! the reference's behaviour on odd input (JavaScript coercions included).
//! Functions not listed here fail with "Unknown function", as in the reference
//! for names it does not know; the list is deliberately the useful subset.

use serde_json::Value;

use super::ast::Expr;
use super::eval::{evaluate, property, EvalResult, Scope};
use super::value::{
    as_num, common_equals, common_stringify, format_fixed, is_integer, is_logic_true, is_nullish, js_len, js_number,
    js_round, js_slice, js_to_string, num, parse_float, parse_int, Val,
};

/// (name, fewest arguments, most arguments). Checked when a template is
/// parsed, as the reference validates arity up front.
const ARITY: &[(&str, usize, usize)] = &[
    ("if", 3, 3),
    ("not", 1, 1),
    ("and", 1, usize::MAX),
    ("or", 1, usize::MAX),
    ("equals", 2, 2),
    ("empty", 1, 1),
    ("exists", 1, 1),
    ("count", 1, 1),
    ("length", 1, 1),
    ("concat", 1, usize::MAX),
    ("join", 2, 3),
    ("string", 1, 2),
    ("int", 1, 1),
    ("float", 1, 1),
    ("formatNumber", 2, 3),
    ("add", 2, usize::MAX),
    ("sub", 2, usize::MAX),
    ("mul", 2, usize::MAX),
    ("div", 2, usize::MAX),
    ("mod", 2, 2),
    ("min", 1, usize::MAX),
    ("max", 1, usize::MAX),
    ("first", 1, 1),
    ("last", 1, 1),
    ("take", 2, 2),
    ("skip", 2, 2),
    ("toUpper", 1, 2),
    ("toLower", 1, 2),
    ("substring", 2, 3),
    ("replace", 3, 3),
    ("contains", 2, 2),
    ("coalesce", 1, usize::MAX),
    ("createArray", 0, usize::MAX),
    ("startsWith", 2, 2),
    ("endsWith", 2, 2),
    ("trim", 1, 1),
];

/// Whether `name` accepts `count` arguments; unknown names are accepted here
/// and fail when evaluated, like in the reference.
pub fn check_arity(name: &str, count: usize) -> Result<(), String> {
    match ARITY.iter().find(|(n, _, _)| *n == name) {
        Some((_, min, _)) if count < *min => Err(format!("{name} should have at least {min} children.")),
        Some((_, _, max)) if count > *max => Err(format!("{name} can't have more than {max} children.")),
        _ => Ok(()),
    }
}

fn all(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> Result<Vec<Val>, String> {
    args.iter().map(|a| evaluate(a, scope, substitute)).collect()
}

fn string(s: String) -> Val {
    Some(Value::String(s))
}

fn boolean(b: bool) -> Val {
    Some(Value::Bool(b))
}

fn number_arg(value: &Val, expr: &Expr) -> Result<f64, String> {
    as_num(value).ok_or_else(|| format!("{expr} is not a number."))
}

/// A string argument where the reference accepts a string or undefined (as "").
fn string_or_undefined(value: &Val, expr: &Expr) -> Result<String, String> {
    match value {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Ok(String::new()),
        _ => Err(format!("{expr} is neither a string nor a null object.")),
    }
}

pub fn call(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    // One small function per built-in keeps this frame small: expressions
    // nest through here, and a debug build sums every arm's locals.
    match name {
        "if" => builtin_if(args, scope, substitute),
        "not" => builtin_not(args, scope),
        "and" => builtin_and(args, scope),
        "or" => builtin_or(args, scope),
        "equals" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "exists" | "empty" => comparison(name, args, scope),
        "count" => builtin_count(args, scope, substitute),
        "length" => builtin_length(args, scope, substitute),
        "concat" => builtin_concat(args, scope, substitute),
        "join" => builtin_join(args, scope, substitute),
        "string" => builtin_string(args, scope, substitute),
        "int" => builtin_int(args, scope, substitute),
        "float" => builtin_float(args, scope, substitute),
        "formatNumber" => builtin_format_number(args, scope, substitute),
        "+" if args.len() == 1 => unary_plus(args, scope, substitute),
        "add" | "+" => builtin_add(args, scope, substitute),
        "sub" | "-" if args.len() == 1 => negate(args, scope, substitute),
        "sub" | "-" | "mul" | "*" | "div" | "/" | "mod" | "%" | "^" => arithmetic(name, args, scope, substitute),
        "min" | "max" => min_max(name, args, scope, substitute),
        "first" | "last" => first_last(name, args, scope, substitute),
        "take" | "skip" => take_skip(name, args, scope, substitute),
        "toUpper" | "toLower" => to_upper_lower(name, args, scope, substitute),
        "trim" => builtin_trim(args, scope, substitute),
        "substring" => substring(args, scope, substitute),
        "replace" => builtin_replace(args, scope, substitute),
        "contains" => builtin_contains(args, scope, substitute),
        "startsWith" | "endsWith" => starts_ends_with(name, args, scope, substitute),
        "coalesce" => builtin_coalesce(args, scope, substitute),
        "createArray" => builtin_create_array(args, scope, substitute),
        other => Err(format!("Unknown function {other}")),
    }
}

fn builtin_if(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let condition = evaluate(&args[0], scope, false);
    match condition {
        Ok(c) if is_logic_true(&c) => evaluate(&args[1], scope, substitute),
        _ => evaluate(&args[2], scope, substitute),
    }
}

fn builtin_not(args: &[Expr], scope: &Scope<'_>) -> EvalResult {
    // A failing operand makes `not` true, as in the reference.
    let value = evaluate(&args[0], scope, false);
    Ok(boolean(value.map_or(true, |v| !is_logic_true(&v))))
}

fn builtin_and(args: &[Expr], scope: &Scope<'_>) -> EvalResult {
    for arg in args {
        match evaluate(arg, scope, false) {
            Ok(v) if is_logic_true(&v) => {}
            _ => return Ok(boolean(false)),
        }
    }
    Ok(boolean(true))
}

fn builtin_or(args: &[Expr], scope: &Scope<'_>) -> EvalResult {
    // Like the reference: `true` at the first true operand, otherwise the
    // last operand's own value (undefined when it failed), not `false`.
    let mut last = None;
    for arg in args {
        // A comparison that fails still carries `false` in the reference.
        let failed = match arg {
            Expr::Binary { op: "<" | "<=" | ">" | ">=", .. } => boolean(false),
            _ => None,
        };
        last = evaluate(arg, scope, false).unwrap_or(failed);
        if is_logic_true(&last) {
            return Ok(boolean(true));
        }
    }
    Ok(last)
}

fn builtin_count(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    match evaluate(&args[0], scope, substitute)? {
        Some(Value::String(s)) => Ok(Some(num(js_len(&s) as f64))),
        Some(Value::Array(items)) => Ok(Some(num(items.len() as f64))),
        Some(Value::Object(map)) => Ok(Some(num(map.len() as f64))),
        _ => Err(format!("{} must be a string, list, map or object.", args[0])),
    }
}

fn builtin_length(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    Ok(Some(num(js_len(&string_or_undefined(&value, &args[0])?) as f64)))
}

fn builtin_concat(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let mut acc = values[0].clone();
    for next in &values[1..] {
        acc = match (acc, next) {
            (a, b) if is_nullish(&a) && is_nullish(b) => None,
            (a, Some(Value::Array(b))) if is_nullish(&a) => Some(Value::Array(b.clone())),
            (Some(Value::Array(a)), b) if is_nullish(b) => Some(Value::Array(a)),
            (Some(Value::Array(mut a)), Some(Value::Array(b))) => {
                a.extend(b.iter().cloned());
                Some(Value::Array(a))
            }
            (a, b) => string(common_stringify(&a) + &common_stringify(b)),
        };
    }
    Ok(acc)
}

fn builtin_join(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let Some(Value::Array(items)) = &values[0] else {
        return Err(format!("{} is not a list.", args[0]));
    };
    let part = |v: &Value| if v.is_null() { String::new() } else { js_to_string(v) };
    let sep = |v: &Val| v.as_ref().map(js_to_string).unwrap_or_else(|| ",".into());
    let texts: Vec<String> = items.iter().map(part).collect();
    if values.len() == 2 || texts.len() < 2 {
        let separator = if values.len() == 2 { sep(&values[1]) } else { sep(&values[2]) };
        return Ok(string(texts.join(&separator)));
    }
    match texts.split_last() {
        Some((last, init)) => Ok(string(format!("{}{}{}", init.join(&sep(&values[1])), sep(&values[2]), last))),
        None => Ok(string(String::new())),
    }
}

fn builtin_string(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    Ok(string(match &value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let text = js_number(x);
            let precision = text.split_once('.').map_or(0, |(_, frac)| frac.len());
            format_fixed(x, precision)
        }
        other => common_stringify(other),
    }))
}

fn builtin_int(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    match evaluate(&args[0], scope, substitute)? {
        Some(Value::String(s)) => {
            parse_int(&s).map(|x| Some(num(x))).ok_or_else(|| format!("parameter {s} is not a valid number string."))
        }
        Some(Value::Number(n)) => Ok(parse_int(&js_number(n.as_f64().unwrap_or(f64::NAN))).map(num)),
        _ => Ok(None),
    }
}

fn builtin_float(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    match evaluate(&args[0], scope, substitute)? {
        Some(Value::String(s)) => {
            parse_float(&s).map(|x| Some(num(x))).ok_or_else(|| format!("parameter {s} is not a valid number string."))
        }
        Some(Value::Number(n)) => Ok(Some(Value::Number(n))),
        _ => Ok(None),
    }
}

fn builtin_format_number(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let Some(x) = as_num(&values[0]) else {
        return Err(format!("formatNumber first argument {} must be a number", args[0]));
    };
    let Some(precision) = as_num(&values[1]).filter(|p| is_integer(*p) && (0.0..=20.0).contains(p)) else {
        return Err(format!("formatNumber second argument {} must be a number from 0 to 20", args[1]));
    };
    let scale = 10f64.powi(precision as i32);
    Ok(string(format_fixed(js_round(x * scale) / scale, precision as usize)))
}

fn unary_plus(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    Ok(Some(num(number_arg(&value, &args[0])?)))
}

fn builtin_add(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    for (v, e) in values.iter().zip(args) {
        if !matches!(v, None | Some(Value::String(_)) | Some(Value::Number(_))) {
            return Err(format!("{e} is neither a number nor string"));
        }
    }
    let mut acc = values[0].clone();
    for next in &values[1..] {
        acc = match (as_num(&acc), as_num(next)) {
            (Some(a), Some(b)) => Some(num(a + b)),
            (Some(_), None) | (None, Some(_)) if is_nullish(&acc) || is_nullish(next) => {
                return Err("Operator '+' or add cannot be applied to operands of type 'number' and null object.".into())
            }
            _ => string(common_stringify(&acc) + &common_stringify(next)),
        };
    }
    Ok(acc)
}

fn negate(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    Ok(Some(num(-number_arg(&value, &args[0])?)))
}

fn arithmetic(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let mut acc = number_arg(&values[0], &args[0])?;
    for (value, expr) in values[1..].iter().zip(&args[1..]) {
        let x = number_arg(value, expr)?;
        acc = match name {
            "sub" | "-" => acc - x,
            "mul" | "*" => acc * x,
            "^" => acc.powf(x),
            "div" | "/" if x == 0.0 => return Err(format!("Cannot divide by 0 from {expr}")),
            "div" | "/" if is_integer(acc) && is_integer(x) => (acc / x).floor(),
            "div" | "/" => acc / x,
            _ if !is_integer(acc) => return Err(format!("{} is not a integer.", js_number(acc))),
            _ if !is_integer(x) => return Err(format!("{} is not a integer.", js_number(x))),
            _ if x == 0.0 => return Err(format!("Cannot mod by 0 from {expr}")),
            _ => acc % x,
        };
    }
    Ok(Some(num(acc)))
}

fn min_max(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let mut numbers = Vec::new();
    for (value, expr) in values.iter().zip(args) {
        match value {
            Some(Value::Number(n)) => numbers.push(n.as_f64().unwrap_or(f64::NAN)),
            Some(Value::Array(items)) => {
                for item in items {
                    numbers.push(
                        item.as_f64().ok_or_else(|| format!("{} is not a number in {expr}.", js_to_string(item)))?,
                    );
                }
            }
            _ => return Err(format!("{expr} is neither a list nor a number.")),
        }
    }
    let pick = if name == "min" { f64::min } else { f64::max };
    let start = if name == "min" { f64::INFINITY } else { f64::NEG_INFINITY };
    Ok(Some(num(numbers.into_iter().fold(start, pick))))
}

fn first_last(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    Ok(match evaluate(&args[0], scope, substitute)? {
        Some(Value::String(s)) if !s.is_empty() => {
            let n = js_len(&s);
            string(if name == "first" { js_slice(&s, 0, 1) } else { js_slice(&s, n - 1, n) })
        }
        Some(Value::Array(items)) => if name == "first" { items.first() } else { items.last() }.cloned(),
        _ => None,
    })
}

fn take_skip(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let collection = evaluate(&args[0], scope, substitute)?;
    let count = evaluate(&args[1], scope, substitute)?;
    let Some(n) = as_num(&count).filter(|n| is_integer(*n)) else {
        return Err(format!("{} is not an integer.", args[1]));
    };
    let n = n.max(0.0) as usize;
    match (collection, name) {
        (Some(Value::Array(items)), "take") => Ok(Some(Value::Array(items.into_iter().take(n).collect()))),
        (Some(Value::Array(items)), _) => Ok(Some(Value::Array(items.into_iter().skip(n).collect()))),
        (Some(Value::String(s)), "take") => Ok(string(js_slice(&s, 0, n))),
        _ => Err(format!("{} is not array or string.", args[0])),
    }
}

fn to_upper_lower(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    let text = match &value {
        Some(Value::String(s)) => s.clone(),
        None => String::new(),
        _ => return Err(format!("{} is not a String expression in {name}.", args[0])),
    };
    Ok(string(if name == "toUpper" { text.to_uppercase() } else { text.to_lowercase() }))
}

fn builtin_trim(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let value = evaluate(&args[0], scope, substitute)?;
    Ok(string(string_or_undefined(&value, &args[0])?.trim().to_string()))
}

fn builtin_replace(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let texts: Vec<String> =
        values.iter().zip(args).map(|(v, e)| string_or_undefined(v, e)).collect::<Result<_, _>>()?;
    if texts[1].is_empty() {
        return Err(format!("{} should be a string with length at least 1", args[1]));
    }
    Ok(string(texts[0].replace(&texts[1], &texts[2])))
}

fn builtin_contains(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute).unwrap_or_else(|_| vec![None, None]);
    Ok(boolean(match (&values[0], &values[1]) {
        (Some(Value::String(a)), Some(Value::String(b))) => a.contains(b.as_str()),
        (Some(Value::Array(items)), b) => items.iter().any(|i| common_equals(&Some(i.clone()), b)),
        (a, Some(Value::String(key))) => property(a.as_ref(), key).is_some(),
        _ => false,
    }))
}

fn starts_ends_with(name: &str, args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let values = all(args, scope, substitute)?;
    let a = string_or_undefined(&values[0], &args[0])?;
    let b = string_or_undefined(&values[1], &args[1])?;
    Ok(boolean(if name == "startsWith" { a.starts_with(&b) } else { a.ends_with(&b) }))
}

fn builtin_coalesce(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    Ok(all(args, scope, substitute)?.into_iter().find(|v| !is_nullish(v)).flatten())
}

fn builtin_create_array(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    Ok(Some(Value::Array(all(args, scope, substitute)?.into_iter().map(|v| v.unwrap_or(Value::Null)).collect())))
}

/// Comparisons evaluate without substitution; an argument that does not
/// qualify (undefined for `<`, a number for `empty`) makes them false, not an error.
fn comparison(name: &str, args: &[Expr], scope: &Scope<'_>) -> EvalResult {
    let Ok(values) = all(args, scope, false) else { return Ok(boolean(false)) };
    let result = match name {
        "equals" | "==" => common_equals(&values[0], &values[1]),
        "!=" => !common_equals(&values[0], &values[1]),
        "exists" => !is_nullish(&values[0]),
        "empty" => match &values[0] {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(Value::Array(items)) => items.is_empty(),
            Some(Value::Object(map)) => map.is_empty(),
            _ => false,
        },
        _ => {
            if values.iter().any(is_nullish) {
                return Ok(boolean(false));
            }
            let ordering = match (&values[0], &values[1]) {
                (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64().partial_cmp(&b.as_f64()),
                (Some(Value::String(a)), Some(Value::String(b))) => {
                    Some(a.encode_utf16().collect::<Vec<_>>().cmp(&b.encode_utf16().collect::<Vec<_>>()))
                }
                (a, b) => {
                    return Err(format!("{} and {} must be comparable.", common_stringify(a), common_stringify(b)))
                }
            };
            let Some(ordering) = ordering else { return Ok(boolean(false)) };
            match name {
                "<" => ordering.is_lt(),
                "<=" => ordering.is_le(),
                ">" => ordering.is_gt(),
                _ => ordering.is_ge(),
            }
        }
    };
    Ok(boolean(result))
}

fn substring(args: &[Expr], scope: &Scope<'_>, substitute: bool) -> EvalResult {
    let text = match evaluate(&args[0], scope, substitute)? {
        Some(Value::String(s)) => s,
        None => return Ok(string(String::new())),
        _ => return Err(format!("{} is neither a string nor a null object.", args[0])),
    };
    let len = js_len(&text) as f64;
    let start = as_num(&evaluate(&args[1], scope, substitute)?)
        .filter(|s| is_integer(*s))
        .ok_or_else(|| format!("{} is not an integer.", args[1]))?;
    if start < 0.0 || start > len {
        return Err(format!("{}={} which is out of range for {text}", args[1], js_number(start)));
    }
    let count = match args.get(2) {
        None => len - start,
        Some(expr) => {
            let count = as_num(&evaluate(expr, scope, substitute)?)
                .filter(|c| is_integer(*c))
                .ok_or_else(|| format!("{expr} is not an integer"))?;
            if count < 0.0 || start + count > len {
                return Err(format!("{expr}={} which is out of range for {text}", js_number(count)));
            }
            count
        }
    };
    Ok(string(js_slice(&text, start as usize, (start + count) as usize)))
}
