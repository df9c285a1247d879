//! JavaScript value semantics the reference engine inherits from Node:
//! numbers are doubles, `undefined` differs from `null`, and values turn into
//! text the way `toString` does. Values are `Option<serde_json::Value>`,
//! `None` being `undefined`.

use serde_json::{Number, Value};

pub type Val = Option<Value>;

/// A double as JSON, integral values as integers so `3` stays `3` and not `3.0`
/// (JSON.parse makes no difference between them, serde_json does).
pub fn num(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
    }
}

/// Every integral number in a tree as an integer, as JSON.stringify would write it.
pub fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(x) = n.as_f64() {
                if !(n.is_i64() || n.is_u64()) || x.abs() >= 9_007_199_254_740_992.0 {
                    *value = num(x);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

pub fn as_num(value: &Val) -> Option<f64> {
    match value {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    }
}

pub fn is_integer(x: f64) -> bool {
    x.is_finite() && x.fract() == 0.0
}

/// `Number.prototype.toString()`.
pub fn js_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let abs = x.abs();
    if (1e-6..1e21).contains(&abs) {
        format!("{x}")
    } else {
        let text = format!("{x:e}");
        match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        }
    }
}

/// Adaptive Expressions' truthiness: only `false`, `null` and `undefined` are false.
pub fn is_logic_true(value: &Val) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        _ => true,
    }
}

pub fn is_nullish(value: &Val) -> bool {
    matches!(value, None | Some(Value::Null))
}

/// JavaScript's `String(value)` for a defined, non-null value:
/// arrays join with commas, objects are `[object Object]`.
pub fn js_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => js_number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(js_to_string).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// `commonStringify` of Adaptive Expressions: JSON for objects and arrays
/// (outer quotes trimmed), `toString` otherwise, empty for null.
pub fn common_stringify(value: &Val) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(v @ (Value::Array(_) | Value::Object(_))) => {
            let mut clean = v.clone();
            normalize_numbers(&mut clean);
            let json = serde_json::to_string(&clean).unwrap_or_default();
            json.trim_start_matches(['\'', '"']).trim_end_matches(['\'', '"']).to_string()
        }
        Some(v) => js_to_string(v),
    }
}

/// `commonEquals`: null equals undefined, arrays and objects compare deeply
/// (object key order does not matter), numbers within epsilon.
pub fn common_equals(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (a, b) if is_nullish(a) || is_nullish(b) => is_nullish(a) && is_nullish(b),
        (Some(a), Some(b)) => deep_equals(a, b),
        _ => false,
    }
}

fn deep_equals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() < f64::EPSILON
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| deep_equals(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equals(v, w)))
        }
        _ => a == b,
    }
}

/// Length in UTF-16 code units, as JavaScript counts.
pub fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// A slice in UTF-16 code units (a split surrogate pair becomes U+FFFD).
pub fn js_slice(s: &str, start: usize, end: usize) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    let end = end.min(units.len());
    let start = start.min(end);
    String::from_utf16_lossy(&units[start..end])
}

/// JavaScript's `parseInt(text, 10)`: optional whitespace and sign, then digits.
pub fn parse_int(text: &str) -> Option<f64> {
    let t = text.trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    digits[..end].parse::<f64>().ok().map(|x| sign * x)
}

/// JavaScript's `parseFloat`: the longest decimal prefix.
pub fn parse_float(text: &str) -> Option<f64> {
    let t = text.trim_start();
    let bytes = t.as_bytes();
    let mut end = 0;
    if matches!(bytes.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start || &t[digits_start..end] == "." {
        return if t[digits_start..].starts_with("Infinity") {
            Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY })
        } else {
            None
        };
    }
    t[..end].parse::<f64>().ok()
}

/// d3-format's `,.{precision}f` (what `formatNumber` and `string` use): fixed
/// decimals, thousands grouped with commas, negative numbers with U+2212.
pub fn format_fixed(x: f64, precision: usize) -> String {
    if !x.is_finite() {
        return js_number(x);
    }
    // toFixed switches to exponent notation from 1e21 on.
    if x.abs() >= 1e21 {
        let text = js_number(x.abs());
        return if x < 0.0 { format!("\u{2212}{text}") } else { text };
    }
    let precision = precision.min(20);
    let fixed = format!("{:.*}", precision, x.abs());
    let (int_part, frac_part) = match fixed.split_once('.') {
        Some((i, f)) => (i.to_string(), Some(f.to_string())),
        None => (fixed.clone(), None),
    };
    let mut grouped = String::new();
    for (i, c) in int_part.chars().enumerate() {
        if i > 0 && (int_part.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let negative = x < 0.0 && fixed.chars().any(|c| c.is_ascii_digit() && c != '0');
    let mut out = String::new();
    if negative {
        out.push('\u{2212}');
    }
    out.push_str(&grouped);
    if let Some(frac) = frac_part {
        out.push('.');
        out.push_str(&frac);
    }
    out
}

/// `Math.round`: halves go up.
pub fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(3.0), "3");
        assert_eq!(js_number(2.5), "2.5");
        assert_eq!(js_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(js_number(1e-7), "1e-7");
        assert_eq!(js_number(1e21), "1e+21");
        assert_eq!(js_number(-0.0), "0");
        assert_eq!(num(2.0), json!(2));
        assert_eq!(num(2.5), json!(2.5));
    }

    #[test]
    fn fixed_formatting_like_d3() {
        assert_eq!(format_fixed(1234.5678, 2), "1,234.57");
        assert_eq!(format_fixed(1234567.0, 0), "1,234,567");
        assert_eq!(format_fixed(-1234.5, 1), "\u{2212}1,234.5");
        assert_eq!(format_fixed(-0.0, 0), "0");
        assert_eq!(format_fixed(12.0, 0), "12");
        assert_eq!(format_fixed(2.5e21, 5), "2.5e+21");
    }

    #[test]
    fn math_round_halves_up() {
        assert_eq!(js_round(2.5), 3.0);
        assert_eq!(js_round(-0.5), 0.0);
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!(js_round(1.4), 1.0);
    }

    #[test]
    fn parse_int_and_float_take_prefixes() {
        assert_eq!(parse_int(" 42abc"), Some(42.0));
        assert_eq!(parse_int("-7"), Some(-7.0));
        assert_eq!(parse_int("abc"), None);
        assert_eq!(parse_float("2.5x"), Some(2.5));
        assert_eq!(parse_float("x"), None);
    }

    #[test]
    fn to_string_and_equality() {
        assert_eq!(js_to_string(&json!([1, [2, 3], null])), "1,2,3,");
        assert_eq!(js_to_string(&json!({"a": 1})), "[object Object]");
        assert_eq!(common_stringify(&Some(json!({"a": "b"}))), r#"{"a":"b"}"#);
        assert_eq!(common_stringify(&Some(json!(["x"]))), r#"["x"]"#);
        assert!(common_equals(&None, &Some(Value::Null)));
        assert!(common_equals(&Some(json!({"a": 1, "b": 2})), &Some(json!({"b": 2, "a": 1.0}))));
        assert!(!common_equals(&Some(json!(1)), &Some(json!("1"))));
    }
}
