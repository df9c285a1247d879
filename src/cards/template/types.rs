//! The reference checks argument types when it parses an expression, from
//! what each sub-expression is known to return (a literal, an operator, a
//! function), and fails the whole template on a mismatch: `toUpper(1)`,
//! `count(1 + 2)`, `skip('abc', 1)`. Paths and `if` return "anything" and
//! always pass. This does the same for the functions drbot knows.

use super::ast::Expr;

const BOOLEAN: u8 = 1;
const NUMBER: u8 = 2;
const OBJECT: u8 = 4;
const STRING: u8 = 8;
const ARRAY: u8 = 16;

fn return_type(expr: &Expr) -> u8 {
    match expr {
        Expr::Number(_) => NUMBER,
        Expr::Str(_) => STRING,
        Expr::Accessor { .. } | Expr::Element { .. } | Expr::Ternary { .. } => OBJECT,
        Expr::Array(_) => ARRAY,
        Expr::Unary { op: "!", .. } => BOOLEAN,
        Expr::Unary { .. } => NUMBER,
        Expr::Binary { op, .. } => match *op {
            "+" => STRING | NUMBER,
            "-" | "*" | "/" | "%" | "^" => NUMBER,
            _ => BOOLEAN,
        },
        Expr::Call { name, .. } => match name.as_str() {
            "not" | "and" | "or" | "equals" | "empty" | "exists" | "contains" | "startsWith" | "endsWith" => BOOLEAN,
            "count" | "length" | "int" | "float" | "sub" | "mul" | "div" | "mod" | "min" | "max" => NUMBER,
            "add" => STRING | NUMBER,
            "concat" => STRING | ARRAY,
            "join" | "string" | "formatNumber" | "toUpper" | "toLower" | "trim" | "replace" | "substring" => STRING,
            "take" => ARRAY | STRING,
            "skip" | "createArray" => ARRAY,
            _ => OBJECT,
        },
    }
}

/// What each argument must be able to return, by position (the last entry
/// repeats for further arguments); `None` for functions that take anything.
fn expected(expr: &Expr) -> Option<(&[u8], &[Expr])> {
    match expr {
        Expr::Binary { op, left: _, right: _ } => match *op {
            "+" => Some((&[STRING | NUMBER], &[])),
            "-" | "*" | "/" | "%" | "^" => Some((&[NUMBER], &[])),
            _ => None,
        },
        Expr::Call { name, args } => {
            let types: &[u8] = match name.as_str() {
                "add" => &[STRING | NUMBER],
                "sub" | "mul" | "div" | "mod" => &[NUMBER],
                "count" => &[STRING | ARRAY],
                "length" | "toUpper" | "toLower" | "trim" | "replace" | "startsWith" | "endsWith" => &[STRING],
                "join" => &[ARRAY, STRING],
                "formatNumber" => &[NUMBER, NUMBER, STRING],
                "take" => &[ARRAY | STRING, NUMBER],
                "skip" => &[ARRAY, NUMBER],
                "substring" => &[STRING, NUMBER],
                _ => return None,
            };
            Some((types, args.as_slice()))
        }
        _ => None,
    }
}

fn type_names(mask: u8) -> Vec<&'static str> {
    [(BOOLEAN, "Boolean"), (NUMBER, "Number"), (OBJECT, "Object"), (STRING, "String"), (ARRAY, "Array")]
        .into_iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| name)
        .collect()
}

/// Checks `expr` and everything under it.
pub fn validate(expr: &Expr) -> Result<(), String> {
    let children: Vec<&Expr> = match expr {
        Expr::Number(_) | Expr::Str(_) => Vec::new(),
        Expr::Accessor { base, .. } => base.iter().map(|b| &**b).collect(),
        Expr::Element { base, index } => vec![base, index],
        Expr::Call { args, .. } | Expr::Array(args) => args.iter().collect(),
        Expr::Unary { operand, .. } => vec![operand],
        Expr::Binary { left, right, .. } => vec![left, right],
        Expr::Ternary { condition, then, otherwise } => vec![condition, then, otherwise],
    };
    for child in &children {
        validate(child)?;
    }
    if let Some((types, _)) = expected(expr) {
        for (i, child) in children.iter().enumerate() {
            let want = types[i.min(types.len() - 1)];
            let have = return_type(child);
            if want & OBJECT == 0 && have & OBJECT == 0 && want & have == 0 {
                let names = type_names(want);
                return Err(if names.len() == 1 {
                    format!("{child} is not a {} expression in {expr}.", names[0])
                } else {
                    format!("{child} in {expr} is not any of [{}].", names.join(", "))
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse_expression;

    #[test]
    fn literal_arguments_of_the_wrong_type_fail_up_front() {
        for bad in
            ["toUpper(1)", "count(1 / 2)", "skip('abc', 1)", "formatNumber('x', 2)", "-'a'", "1 + [1]", "length(!a)"]
        {
            assert!(parse_expression(bad).is_err(), "{bad}");
        }
        for fine in
            ["toUpper(a)", "count(a)", "take('abc', 1)", "formatNumber(a.b, 2)", "-a", "'a' + 1", "if(a, 1, 'x')"]
        {
            assert!(parse_expression(fine).is_ok(), "{fine}");
        }
    }
}
