//! Engine behaviour, each expectation checked against the npm reference
//! (adaptivecards-templating 2.3.1 with adaptive-expressions 4.23).

use serde_json::{json, Value};

use super::{expand, TemplateError};

fn data() -> Value {
    json!({
        "count": 3, "name": "x", "list": [1, 2, 3], "obj": {"a": 1, "Name": "N"},
        "items": [{"n": "a"}, {"n": "b"}], "t": true, "f": false, "nul": null, "s": "5", "fl": 2.5,
        "zero": 0, "es": ""
    })
}

/// The `text` of a TextBlock whose text is `template`, expanded over `data()`.
fn text(template: &str) -> Option<Value> {
    let out = expand(&json!({"type": "TextBlock", "text": template}), &data()).unwrap();
    out.get("text").cloned()
}

fn check(cases: &[(&str, Value)]) {
    for (template, expected) in cases {
        assert_eq!(text(template).as_ref(), Some(expected), "{template}");
    }
}

#[test]
fn whole_string_expressions_keep_their_type() {
    check(&[
        ("${count}", json!(3)),
        ("${t}", json!(true)),
        ("${nul}", Value::Null),
        ("${list}", json!([1, 2, 3])),
        ("${obj}", json!({"a": 1, "Name": "N"})),
        ("${2.50}", json!("2.5")),
        ("${'s'}", json!("s")),
    ]);
}

#[test]
fn embedded_expressions_interpolate_like_javascript() {
    check(&[
        ("n=${count}", json!("n=3")),
        ("x ${list}", json!("x 1,2,3")),
        ("x ${obj}", json!("x [object Object]")),
        ("x ${t}", json!("x true")),
        ("${count}${name}", json!("3x")),
        ("$${count}", json!("$3")),
        ("\\${count}", json!("${count}")),
        ("${", json!("${")),
        ("${count", json!("${count")),
        ("a\\nb ${count}", json!("a\\nb 3")),
    ]);
}

#[test]
fn missing_values_are_written_back_as_the_expression() {
    check(&[
        ("${missing}", json!("${missing}")),
        ("a ${missing} b", json!("a ${missing} b")),
        ("${missing.x}", json!("${missing.x}")),
        ("x ${items[5]}", json!("x ${items[5]}")),
        ("${items[5].n}", json!("${items[5].n}")),
        ("${'a' + missing}", json!("a${missing}")),
        ("x ${foo + 1} y", json!("x ${foo}1 y")),
        ("x ${1/0} y", json!("x ${(1 / 0)} y")),
        ("${length(missing)}", json!(10)),
        ("${coalesce(missing, 'd')}", json!("${missing}")),
        ("${first(missing)}", json!("$")),
        ("${$index}", json!("${$index}")),
    ]);
    // Undefined drops the property.
    assert_eq!(text("${first(es)}"), None);
    assert_eq!(text("${int(t)}"), None);
}

#[test]
fn operators() {
    check(&[
        ("${count + 1}", json!(4)),
        ("${count-1}", json!(2)),
        ("${7 / 2}", json!(3)),
        ("${-7 / 2}", json!(-4)),
        ("${7.5 / 2}", json!(3.75)),
        ("${fl * 2}", json!(5)),
        ("${10 % 3}", json!(1)),
        ("${-7 % 3}", json!(-1)),
        ("${2 ^ 3}", json!(8)),
        ("${1 + 2 * 3}", json!(7)),
        ("${0.1+0.2}", json!(0.30000000000000004)),
        ("${'a' + 1}", json!("a1")),
        ("${s + 1}", json!("51")),
        ("${-count}", json!(-3)),
        ("${count > 2 && t}", json!(true)),
        ("${!t}", json!(false)),
        ("${!zero}", json!(false)),
        ("${!missing}", json!(true)),
        ("${count == '3'}", json!(false)),
        ("${1 == 1.0}", json!(true)),
        ("${nul == missing}", json!(true)),
        ("${count > missing}", json!(false)),
        ("${'a' < 'b'}", json!(true)),
        ("${t ? 1 : 2}", json!(1)),
        ("${nul ?? 'd'}", json!("d")),
        ("${\"dq\"}", json!("dq")),
        ("${'it\\'s'}", json!("it's")),
        ("${obj.name}", json!("N")),
        ("${OBJ.A}", json!(1)),
        ("${list[1]}", json!(2)),
        ("${list['1']}", json!(2)),
        ("${items[0]['n']}", json!("a")),
        ("${list[count(list) - 1]}", json!(3)),
        ("${first(items).n}", json!("a")),
        ("${$root.count}", json!(3)),
        ("${$data.count}", json!(3)),
        ("${[1,2]}", json!([1, 2])),
    ]);
}

#[test]
fn functions() {
    check(&[
        ("${if(t, 'y', 'n')}", json!("y")),
        ("${if(missing, 'y', 'n')}", json!("n")),
        ("${if(zero, 'y','n')}", json!("y")),
        ("${if(t, missing, 2)}", json!("${missing}")),
        ("${not(t)}", json!(false)),
        ("${and(t,f)}", json!(false)),
        ("${or(t,f)}", json!(true)),
        ("${or(nul, 0)}", json!(true)),
        ("${equals(1,1)}", json!(true)),
        ("${equals(list, createArray(1,2,3))}", json!(true)),
        ("${empty(list)}", json!(false)),
        ("${empty('')}", json!(true)),
        ("${empty(missing)}", json!(true)),
        ("${empty(0)}", json!(false)),
        ("${exists(missing)}", json!(false)),
        ("${exists(nul)}", json!(false)),
        ("${exists(name)}", json!(true)),
        ("${count(list)}", json!(3)),
        ("${count(obj)}", json!(2)),
        ("${count(missing)}", json!(10)),
        ("${length(name)}", json!(1)),
        ("${concat('a', 'b', count)}", json!("ab3")),
        ("${concat(list, list)}", json!("1,2,31,2,3")),
        ("${concat(missing,'a')}", json!("${missing}a")),
        ("${join(list, ', ')}", json!("1, 2, 3")),
        ("${join(list, ', ', ' and ')}", json!("1, 2 and 3")),
        ("${string(count)}", json!("3")),
        ("${string(1234567)}", json!("1,234,567")),
        ("${string(-5)}", json!("\u{2212}5")),
        ("${string(t)}", json!("true")),
        ("${string(list)}", json!("[1,2,3]")),
        ("${string(nul)}", json!("")),
        ("${int('42')}", json!(42)),
        ("${int(-2.7)}", json!(-2)),
        ("${float('2.5')}", json!(2.5)),
        ("${formatNumber(1234.5678, 2)}", json!("1,234.57")),
        ("${formatNumber(1234.5, 0)}", json!("1,235")),
        ("${formatNumber(1.005, 2)}", json!("1.00")),
        ("${formatNumber(-0.5, 0)}", json!("0")),
        ("${add(1, 2.5)}", json!(3.5)),
        ("${add(1,2,3)}", json!(6)),
        ("${sub(1.5, 0.5)}", json!(1)),
        ("${mul(2,3)}", json!(6)),
        ("${div(7,2)}", json!(3)),
        ("${min(3,1,2)}", json!(1)),
        ("${max(list)}", json!(3)),
        ("${first(list)}", json!(1)),
        ("${last('abc')}", json!("c")),
        ("${take(list,2)}", json!([1, 2])),
        ("${take(list,-1)}", json!([])),
        ("${take('abcd', 2)}", json!("ab")),
        ("${skip(list,2)}", json!([3])),
        ("${toUpper(name)}", json!("X")),
        ("${toLower(missing)}", json!("${missing}")),
        ("${substring('hello',1,3)}", json!("ell")),
        ("${substring('hello', 1)}", json!("ello")),
        ("${replace('aaa','a','b')}", json!("bbb")),
        ("${contains(list, 2)}", json!(true)),
        ("${contains('abc','b')}", json!(true)),
        ("${contains(obj, 'a')}", json!(true)),
        ("${contains(missing, 'a')}", json!(false)),
        ("${coalesce(nul, 'd')}", json!("d")),
    ]);
}

#[test]
fn failures_of_whole_string_expressions_are_errors() {
    for template in
        ["${1/0}", "${items[5]}", "${unknownfn(1)}", "${'a' < 1}", "${substring('hello', 3, 5)}", "x ${nul}"]
    {
        let result = expand(&json!({"text": template}), &data());
        assert!(result.is_err(), "{template} should fail, got {result:?}");
    }
    assert!(matches!(expand(&json!({"text": "${foo(}"}), &data()), Err(TemplateError::Syntax { .. })));
    assert!(matches!(expand(&json!({"text": "${add(1)}"}), &data()), Err(TemplateError::Syntax { .. })));
    // A syntax error fails the template even where $when would drop the element.
    assert!(expand(&json!([{"$when": "${false}", "text": "${a +}"}]), &data()).is_err());
}

#[test]
fn data_arrays_repeat_and_index() {
    let template = json!({"body": [
        {"type": "TextBlock", "$data": "${items}", "text": "${$index}: ${n} of ${count($root.items)}"},
        {"type": "TextBlock", "text": "after"}
    ]});
    assert_eq!(
        expand(&template, &data()).unwrap(),
        json!({"body": [
            {"type": "TextBlock", "text": "0: a of 2"},
            {"type": "TextBlock", "text": "1: b of 2"},
            {"type": "TextBlock", "text": "after"}
        ]})
    );
}

#[test]
fn data_objects_scope_and_nest() {
    let template = json!({
        "$data": "${obj}",
        "a": "${a}",
        "root": "${$root.name}",
        "inner": {"$data": "${$root.items}", "v": "${n}-${$index}", "deeper": {"$data": {"q": 7}, "q": "${q}"}}
    });
    assert_eq!(
        expand(&template, &data()).unwrap(),
        json!({"a": 1, "root": "x", "inner": [
            {"v": "a-0", "deeper": {"q": 7}},
            {"v": "b-1", "deeper": {"q": 7}}
        ]})
    );
}

#[test]
fn when_drops_elements() {
    let template = json!({
        "body": [
            {"$when": "${count > 2}", "id": "kept"},
            {"$when": "${count > 5}", "id": "dropped"},
            {"$when": "${1}", "id": "not a boolean"},
            {"$when": "${missing}", "id": "undefined"},
            {"$data": "${items}", "$when": "${n == 'b'}", "id": "${n}"},
            {"$data": [], "id": "empty array"},
            null
        ],
        "selectAction": {"$when": "${false}"},
        "literalTrue": {"$when": true, "x": 1},
        "literalFalse": {"$when": false, "x": 1}
    });
    assert_eq!(
        expand(&template, &data()).unwrap(),
        json!({
            "body": [{"id": "kept"}, {"id": "b"}],
            "selectAction": null,
            "literalTrue": null,
            "literalFalse": {"x": 1}
        })
    );
}

#[test]
fn arrays_from_expressions_are_spliced() {
    let out = expand(&json!({"a": ["${list}", "${nul}", 4]}), &data()).unwrap();
    assert_eq!(out, json!({"a": [1, 2, 3, 4]}));
}

#[test]
fn host_is_optional() {
    let template = super::Template::parse(&json!({"h": "${$host.theme}", "x": "${$host}"})).unwrap();
    assert_eq!(template.expand(&json!({})).unwrap(), json!({"h": "${$host.theme}", "x": "${$host}"}));
    let host = json!({"theme": "dark"});
    assert_eq!(template.expand_with_host(&json!({}), Some(&host)).unwrap()["h"], json!("dark"));
}

#[test]
fn hostile_input_is_an_error_not_a_panic() {
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!([deep]);
    }
    assert!(matches!(expand(&deep, &json!({})), Err(TemplateError::TooDeep)));
    let big = json!({"a": (0..100).collect::<Vec<_>>()});
    let explode = json!([{"$data": "${a}", "x": [{"$data": "${$root.a}", "y": [{"$data": "${$root.a}", "z": 1}]}]}]);
    assert!(matches!(expand(&explode, &big), Err(TemplateError::TooLarge)));
    for template in [
        "${",
        "${}",
        "${(}",
        "${[}",
        "${a.}",
        "${a[}",
        "${'\\",
        "${1..2}",
        "${a(b)(c)}",
        "${-}",
        "${??}",
        "${\u{1F600}}",
    ] {
        let _ = expand(&json!({"t": template}), &data());
    }
}

mod fuzz {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// Pieces that make interesting (mostly broken) templates.
    const PIECES: &[&str] = &[
        "${",
        "}",
        "$",
        "\\",
        "`",
        "'",
        "\"",
        "(",
        ")",
        "[",
        "]",
        ".",
        ",",
        "a",
        "list",
        "obj",
        "$index",
        "$root",
        "$data",
        "1",
        "0",
        "-",
        "+",
        "*",
        "/",
        "%",
        "^",
        "!",
        "==",
        "<",
        "&&",
        "||",
        "??",
        "?",
        ":",
        "if(",
        "concat(",
        "count(",
        "substring(",
        "take(",
        "formatNumber(",
        "string(",
        "join(",
        "first(",
        "é",
        "\u{1F600}",
        " ",
        "\n",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|p| p.concat())
    }

    fn template() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            text().prop_map(Value::String),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (prop::sample::select(&["$data", "$when", "text", "items", "x"][..]), inner),
                    0..4
                )
                .prop_map(|entries| Value::Object(entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    fn has_keyword(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.keys().any(|k| k == "$data" || k == "$when") || map.values().any(has_keyword),
            Value::Array(items) => items.iter().any(has_keyword),
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_template_and_data_give_a_card_or_an_error(t in template(), s in text()) {
            let data = json!({"a": s, "list": [1, "x", null, {"a": [2]}], "obj": {"a": {"b": -1.5}}, "n": f64::MAX});
            if let Ok(card) = super::super::expand(&t, &data) {
                prop_assert!(!has_keyword(&card), "templating keywords left in {card}");
            }
        }
    }
}

#[test]
fn the_deepest_accepted_expression_evaluates_on_a_small_stack() {
    const STACK: usize = 1024 * 1024;
    // Find the deepest nesting the parser accepts, then evaluate it on a thread
    // with a small stack: the limits must keep evaluation far from overflowing.
    let deepest = (1..200)
        .map(|n| format!("{}t{}", "not(".repeat(n), ")".repeat(n)))
        .take_while(|e| super::parse_expression(e).is_ok())
        .last()
        .expect("some nesting is accepted");
    let chain =
        (1..400).map(|n| vec!["count"; n].join(" + ")).take_while(|e| super::parse_expression(e).is_ok()).last();
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let a = expand(&json!({"x": format!("${{{deepest}}}")}), &data());
            let b = expand(&json!({"x": format!("${{{}}}", chain.unwrap_or_default())}), &data());
            (a.is_ok(), b.is_ok())
        })
        .expect("spawn");
    assert_eq!(handle.join().expect("no stack overflow"), (true, true));

    // The deepest JSON the expander accepts, with an expression at the bottom.
    let mut deep = json!({"t": "${count + 1}"});
    for i in 0..127 {
        deep = if i % 2 == 0 { json!([deep]) } else { json!({"$data": "${$root}", "x": deep}) };
    }
    let handle =
        std::thread::Builder::new().stack_size(STACK).spawn(move || expand(&deep, &data()).is_ok()).expect("spawn");
    assert!(handle.join().expect("no stack overflow"));
}
