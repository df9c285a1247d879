//! The expression tree: what the parser makes and the type check, the
//! evaluator and the functions read. On its own so that none of them has
//! to import the parser for it.

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Number(f64),
    Str(String),
    /// `name` or `base.name`.
    Accessor {
        name: String,
        base: Option<Box<Expr>>,
    },
    /// `base[index]`.
    Element {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Unary {
        op: &'static str,
        operand: Box<Expr>,
    },
    Binary {
        op: &'static str,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Ternary {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Array(Vec<Expr>),
}
