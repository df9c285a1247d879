//! drbot's Rust templating engine against the official npm packages:
//! every card template × sample expands to the same JSON as
//! `adaptivecards-templating`, parses with zero warnings in the `adaptivecards`
//! renderer, and fits Teams' size limit; expression corner cases agree too.
//!
//! Needs Node and `tests/cards/node_modules` (`.ci/setup.d/30-node-cards.sh`);
//! without them the tests fail and say so, they never skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use drbot::cards::views::{self, CardTemplate, MAX_CARD_BYTES};
use serde_json::{json, Value};

fn cards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cards")
}

/// Runs `tests/cards/<script>` with `input` on stdin, once for a whole batch.
fn node(script: &str, input: &Value) -> Value {
    let dir = cards_dir();
    let version = Command::new("node").arg("--version").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "Node.js is required for the Adaptive Cards reference tests and was not found on PATH \
         (install nodejs and npm, then run .ci/setup.d/30-node-cards.sh)"
    );
    for package in ["adaptivecards-templating", "adaptive-expressions", "adaptivecards", "jsdom"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "the npm package {package} is missing from tests/cards/node_modules: run .ci/setup.d/30-node-cards.sh"
        );
    }
    let mut child = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("write to node");
    let output = child.wait_with_output().expect("node finished");
    assert!(output.status.success(), "{script} failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e})"))
}

/// Deserializes a sample into its typed view (so samples cannot drift from
/// the structs) and renders it; returns the data expanded and the card.
fn render_sample(template: CardTemplate, sample: Value) -> (Value, Value) {
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(
        template: CardTemplate,
        sample: Value,
    ) -> (Value, Value) {
        let view: T = serde_json::from_value(sample)
            .unwrap_or_else(|e| panic!("sample for {} does not match its view: {e}", template.name()));
        views::render_with_data(template, &view).unwrap_or_else(|e| panic!("{}: {e}", template.name()))
    }
    match template {
        CardTemplate::Welcome => typed::<views::WelcomeView>(template, sample),
        CardTemplate::Help => typed::<views::HelpView>(template, sample),
        CardTemplate::Dashboard => typed::<views::DashboardView>(template, sample),
        CardTemplate::Plan => typed::<views::PlanView>(template, sample),
        CardTemplate::Progress => typed::<views::ProgressView>(template, sample),
        CardTemplate::Result => typed::<views::ResultView>(template, sample),
        CardTemplate::Runs => typed::<views::RunsView>(template, sample),
        CardTemplate::Run => typed::<views::RunView>(template, sample),
        CardTemplate::Subscriptions => typed::<views::SubscriptionsView>(template, sample),
        CardTemplate::Signin => typed::<views::SigninView>(template, sample),
        CardTemplate::Error => typed::<views::ErrorView>(template, sample),
        CardTemplate::Refusal => typed::<views::RefusalView>(template, sample),
        CardTemplate::Audit => typed::<views::AuditView>(template, sample),
        CardTemplate::DeployPlan => typed::<views::DeployPlanView>(template, sample),
        CardTemplate::DeployProgress => typed::<views::DeployProgressView>(template, sample),
        CardTemplate::DeployResult => typed::<views::DeployResultView>(template, sample),
        CardTemplate::Verify => typed::<views::VerifyView>(template, sample),
        CardTemplate::History => typed::<views::HistoryView>(template, sample),
        CardTemplate::Runbook => typed::<views::RunbookView>(template, sample),
        CardTemplate::RunbookRun => typed::<views::RunbookRunView>(template, sample),
        CardTemplate::Drills => typed::<views::DrillsView>(template, sample),
    }
}

/// JSON equality, numbers within a few ulps: serde_json's default float
/// parser may land one ulp off what Node printed.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

struct Rendered {
    name: String,
    template: CardTemplate,
    data: Value,
    card: Value,
}

/// Every `adaptive-cards/samples/<template>[-variant].json`, rendered in Rust.
fn rendered_samples() -> Vec<Rendered> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adaptive-cards/samples");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("samples").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
        let base = name.split('-').next().unwrap_or_default();
        let template = CardTemplate::ALL
            .into_iter()
            .find(|t| t.name() == base)
            .unwrap_or_else(|| panic!("sample {name} names no template"));
        let sample: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read sample")).expect("sample JSON");
        let (data, card) = render_sample(template, sample);
        out.push(Rendered { name, template, data, card });
    }
    for template in CardTemplate::ALL {
        assert!(out.iter().any(|r| r.template == template), "template {} has no sample", template.name());
    }
    // scripts/render-cards asks for the Rust-rendered cards to screenshot them.
    if let Some(dir) = std::env::var_os("DRBOT_CARDS_OUT") {
        std::fs::create_dir_all(&dir).expect("create DRBOT_CARDS_OUT");
        for r in &out {
            let path = Path::new(&dir).join(format!("{}.json", r.name));
            std::fs::write(path, serde_json::to_string_pretty(&r.card).expect("card JSON")).expect("write card");
        }
    }
    out
}

#[test]
fn every_sample_expands_like_the_npm_reference_and_validates() {
    let rendered = rendered_samples();
    let jobs: Vec<Value> = rendered
        .iter()
        .map(|r| {
            let template: Value = serde_json::from_str(r.template.source()).expect("template JSON");
            json!({"name": r.name, "template": template, "data": r.data})
        })
        .collect();
    let reference = node("expand.js", &Value::Array(jobs));
    let mut problems = Vec::new();
    for (mine, theirs) in rendered.iter().zip(reference.as_array().expect("array")) {
        assert_eq!(theirs["name"], mine.name.as_str());
        // drbot adds each Action.Execute's Action.Submit fallback after expanding.
        let theirs_card = theirs.get("card").cloned().map(|mut card| {
            drbot::cards::universal::add_submit_fallbacks(&mut card);
            card
        });
        match theirs_card.as_ref() {
            Some(card) if same_json(card, &mine.card) => {}
            Some(card) => problems
                .push(format!("{}: Rust and the reference differ\n rust: {}\n  npm: {}", mine.name, mine.card, card)),
            None => problems.push(format!("{}: the reference failed: {}", mine.name, theirs["error"])),
        }
        let bytes = mine.card.to_string().len();
        if bytes > MAX_CARD_BYTES {
            problems.push(format!("{}: {bytes} bytes, above {MAX_CARD_BYTES}", mine.name));
        }
        // A `${…}` left in a card is a template naming a field its view does not have.
        if mine.card.to_string().contains("${") {
            problems.push(format!("{}: an expression was left unresolved: {}", mine.name, mine.card));
        }
        if mine.card["version"] != "1.5" {
            problems.push(format!("{}: not an Adaptive Card 1.5", mine.name));
        }
    }
    let cards: Vec<Value> = rendered.iter().map(|r| json!({"name": r.name, "card": r.card})).collect();
    let validation = node("validate.js", &Value::Array(cards));
    for result in validation.as_array().expect("array") {
        let card = &rendered.iter().find(|r| r.name == result["name"]).expect("rendered").card;
        // The renderer library has no charts (Teams has): it falls back, which
        // is right only when every chart of the card carries a fallback.
        let events: Vec<&Value> = result["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|event| !(chart_event(event) && every_chart_falls_back(card)))
            .collect();
        if !events.is_empty() {
            problems.push(format!("{}: the adaptivecards library reports {events:?}", result["name"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The renderer library's "unknown element" for one of Teams' chart elements.
fn chart_event(event: &Value) -> bool {
    event.as_str().is_some_and(|e| e.starts_with("parse: UnknownElementType: Unknown element type \"Chart."))
}

/// The `Chart.*` elements of a card, wherever they are.
fn charts(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("Chart.")) {
                out.push(value.clone());
            }
            map.values().for_each(|v| charts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| charts(v, out)),
        _ => {}
    }
}

/// Every chart says what to show where charts are not rendered: a TextBlock with text.
fn every_chart_falls_back(card: &Value) -> bool {
    let mut found = Vec::new();
    charts(card, &mut found);
    found.iter().all(|chart| {
        chart["fallback"]["type"] == "TextBlock" && chart["fallback"]["text"].as_str().is_some_and(|t| !t.is_empty())
    })
}

#[test]
fn the_dashboard_charts_seven_days_with_a_text_fallback() {
    let rendered = rendered_samples();
    let dashboard = &rendered.iter().find(|r| r.name == "dashboard").expect("dashboard").card;
    let mut found = Vec::new();
    charts(dashboard, &mut found);
    let types: Vec<&str> = found.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Chart.Line", "Chart.VerticalBar"]);
    assert_eq!(found[0]["data"][0]["values"][2], json!({"x": "27 Nov", "y": 95}), "the worst RPO per day, in minutes");
    assert_eq!(found[1]["data"].as_array().map(Vec::len), Some(5), "drift per day");
    assert!(every_chart_falls_back(dashboard));
    assert!(found[0]["fallback"]["text"].as_str().unwrap().contains("27 Nov 95"));
    // Without readings there is no section at all.
    let mut sample: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("adaptive-cards/samples/dashboard.json"))
            .unwrap(),
    )
    .unwrap();
    sample["trend"] = json!({"shown": false, "rpo": [], "drift": [], "rpo_text": "", "drift_text": ""});
    let (_, bare) = render_sample(views::CardTemplate::Dashboard, sample);
    let mut none = Vec::new();
    charts(&bare, &mut none);
    assert!(none.is_empty() && !bare.to_string().contains("Last 7 days"), "{bare}");
}

#[test]
fn large_samples_are_cut_with_and_n_more_and_fit() {
    let rendered = rendered_samples();
    for name in ["plan-large", "result-large", "deploy_result-failed"] {
        let r = rendered.iter().find(|r| r.name == name).expect(name);
        let text = r.card.to_string();
        assert!(text.len() <= MAX_CARD_BYTES, "{name}: {} bytes", text.len());
        assert!(text.contains(" more\""), "{name} should end a list with \"and N more\"");
    }
    let plan = rendered.iter().find(|r| r.name == "plan-large").expect("plan-large");
    assert_eq!(plan.data["actions_more"], "and 885 more");
    let result = rendered.iter().find(|r| r.name == "result-large").expect("result-large");
    assert_eq!(result.data["failures_more"], "and 590 more");
    let deploy = rendered.iter().find(|r| r.name == "deploy_result-failed").expect("deploy_result-failed");
    assert_eq!(deploy.data["failures_more"], "and 30 more");
}

#[test]
fn plan_buttons_carry_verbs_and_the_plan_id() {
    let rendered = rendered_samples();
    let plan = rendered.iter().find(|r| r.name == "plan").expect("plan");
    let actions = plan.card["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0]["type"], "Action.Execute");
    assert_eq!(actions[0]["verb"], "replicate.run");
    assert_eq!(actions[0]["data"], json!({"plan_id": "pln-7f3a9c"}));
    assert_eq!(actions[1]["verb"], "replicate.cancel");
    assert_eq!(actions[1]["data"], json!({"plan_id": "pln-7f3a9c"}));
    let dry = rendered.iter().find(|r| r.name == "plan-dry-run").expect("plan-dry-run");
    let verbs: Vec<&Value> = dry.card["actions"].as_array().expect("actions").iter().map(|a| &a["verb"]).collect();
    assert_eq!(verbs, vec!["replicate.cancel"], "a dry run offers no Run button");
    let progress = rendered.iter().find(|r| r.name == "progress").expect("progress");
    assert_eq!(progress.card["actions"][0]["verb"], "replicate.cancel");
    assert_eq!(progress.card["actions"][0]["data"], json!({"plan_id": "pln-7f3a9c", "run_id": "run-4c1e"}));
}

/// Every `Action.OpenUrl` of every sample card (buttons and `selectAction`s)
/// opens a real address: https, and for a workspace object its Catalog
/// Explorer or Jobs page on an Azure Databricks workspace host; the
/// dashboard's offenders are such links.
#[test]
fn every_link_on_a_sample_card_is_a_valid_workspace_url() {
    fn links(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if map.get("type").and_then(Value::as_str) == Some("Action.OpenUrl") {
                    out.push(map.get("url").and_then(Value::as_str).unwrap_or_default().to_string());
                }
                map.values().for_each(|v| links(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| links(v, out)),
            _ => {}
        }
    }
    let mut checked = 0;
    for rendered in rendered_samples() {
        let mut found = Vec::new();
        links(&rendered.card, &mut found);
        for link in found {
            let url =
                url::Url::parse(&link).unwrap_or_else(|e| panic!("{}: {link:?} is not a URL ({e})", rendered.name));
            assert_eq!(url.scheme(), "https", "{}: {link}", rendered.name);
            let host = url.host_str().unwrap_or_default();
            if host.ends_with(".azuredatabricks.net") {
                let path = url.path();
                assert!(
                    path.starts_with("/explore/data/") || path.starts_with("/jobs/"),
                    "{}: {link} is no workspace page drbot links to",
                    rendered.name
                );
                assert!(url.path_segments().is_some_and(|s| s.into_iter().all(|p| !p.is_empty())), "{link}");
            } else {
                assert_eq!(
                    host, "login.microsoftonline.com",
                    "{}: {link} leads outside Entra and Databricks",
                    rendered.name
                );
            }
            checked += 1;
        }
    }
    let dashboard = rendered_samples().into_iter().find(|r| r.name == "dashboard").expect("dashboard");
    let mut on_dashboard = Vec::new();
    links(&dashboard.card, &mut on_dashboard);
    assert!(on_dashboard.iter().any(|l| l.contains("/explore/data/main/sales/orders")), "{on_dashboard:?}");
    assert!(checked >= on_dashboard.len() && !on_dashboard.is_empty());
}

/// Expression corner cases, each its own job so one failure maps to one case.
#[test]
fn expression_corner_cases_agree_with_the_reference() {
    let data = json!({
        "count": 3, "name": "x", "list": [1, 2, 3], "obj": {"a": 1, "Name": "N"},
        "items": [{"n": "a"}, {"n": "b"}], "t": true, "f": false, "nul": null, "s": "5", "fl": 2.5,
        "zero": 0, "es": "", "big": 1234567.891, "neg": -42.5
    });
    let cases = [
        "${count}",
        "n=${count}",
        "${missing}",
        "a ${missing.x} b",
        "x ${items[5]}",
        "${items[5].n}",
        "${obj}",
        "x ${obj}",
        "x ${list}",
        "${count + 1}",
        "${7 / 2}",
        "${-7 / 2}",
        "${7.5 / 2}",
        "${10 % 3}",
        "${2 ^ 10}",
        "${'a' + 1}",
        "${'a' + missing}",
        "x ${foo + 1} y",
        "x ${1/0} y",
        "${count > 2 && t}",
        "${!missing}",
        "${1 < 2 == true}",
        "${nul == missing}",
        "${t ? 'y' : 'n'}",
        "${nul ?? 'd'}",
        "${missing ?? 'd'}",
        "${OBJ.NAME}",
        "${list['1']}",
        "${first(items).n}",
        "${if(missing, 'y', 'n')}",
        "${if(t, missing, 2)}",
        "${count(missing)}",
        "${length(missing)}",
        "${concat(list, list)}",
        "x ${concat(list, list)}",
        "${concat('a', 'b', count)}",
        "${join(list, ', ', ' and ')}",
        "${string(big)}",
        "${string(neg)}",
        "${string(obj)}",
        "${formatNumber(big, 2)}",
        "${formatNumber(neg, 0)}",
        "${formatNumber(2.5, 0)}",
        "${int('42abc')}",
        "${float('2.5e')}",
        "${min(list, 0)}",
        "${max(3, fl)}",
        "${take(list, 2)}",
        "${skip(list, 5)}",
        "${substring('hello', 1, 3)}",
        "${replace('a.b.c', '.', '/')}",
        "${toUpper('straße')}",
        "${contains(obj, 'NAME')}",
        "${coalesce(nul, missing, 2)}",
        "${empty(obj)}",
        "${exists(es)}",
        "${2.50}",
        "${'s'}",
        "$${count}",
        "\\${count}",
        "${",
        "${count",
        "${1/0}",
        "x ${nul}",
        "${unknownfn(1)}",
        "${'a' < 1}",
        "${first(es)}",
        "${$index}",
        "${$root.count}",
        "${$data.fl * 2}",
    ];
    let jobs: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| json!({"name": i.to_string(), "template": {"text": case}, "data": data}))
        .collect();
    let reference = node("expand.js", &Value::Array(jobs));
    let mut problems = Vec::new();
    for (case, theirs) in cases.iter().zip(reference.as_array().expect("array")) {
        let mine = drbot::cards::template::expand(&json!({"text": case}), &data);
        match (mine, theirs.get("card")) {
            (Ok(mine), Some(card)) if same_json(&mine, card) => {}
            (Err(_), None) => {}
            (mine, _) => problems.push(format!("{case}: rust {mine:?}, npm {theirs}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A seeded random expression over the data of the corner cases.
fn random_expression(rng: &mut impl rand::Rng, depth: u32) -> String {
    const LEAVES: &[&str] = &[
        "count",
        "name",
        "list",
        "obj",
        "obj.a",
        "items[0].n",
        "items[1]",
        "missing",
        "missing.x",
        "nul",
        "t",
        "f",
        "s",
        "fl",
        "zero",
        "es",
        "big",
        "neg",
        "list[1]",
        "$root.count",
        "$data.name",
        "0",
        "1",
        "2",
        "7",
        "2.5",
        "-3",
        "'a'",
        "''",
        "'x y'",
        "\"q\"",
        "[1, 2]",
        "u",
        "huge",
        "tiny",
        "deep.k[0].v",
    ];
    const UNARY: &[&str] = &["!", "-"];
    const BINARY: &[&str] = &["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "??", "&"];
    const CALLS: &[(&str, usize)] = &[
        ("if", 3),
        ("not", 1),
        ("and", 2),
        ("or", 2),
        ("equals", 2),
        ("empty", 1),
        ("exists", 1),
        ("count", 1),
        ("length", 1),
        ("concat", 2),
        ("concat", 3),
        ("join", 2),
        ("string", 1),
        ("int", 1),
        ("float", 1),
        ("formatNumber", 2),
        ("add", 2),
        ("sub", 2),
        ("mul", 2),
        ("div", 2),
        ("mod", 2),
        ("min", 2),
        ("max", 1),
        ("first", 1),
        ("last", 1),
        ("take", 2),
        ("skip", 2),
        ("toUpper", 1),
        ("toLower", 1),
        ("substring", 2),
        ("substring", 3),
        ("replace", 3),
        ("contains", 2),
        ("coalesce", 2),
        ("createArray", 2),
        ("trim", 1),
    ];
    if depth == 0 || rng.gen_ratio(1, 3) {
        return LEAVES[rng.gen_range(0..LEAVES.len())].to_string();
    }
    match rng.gen_range(0..4) {
        0 => format!("{}{}", UNARY[rng.gen_range(0..UNARY.len())], random_expression(rng, depth - 1)),
        1 => format!(
            "({} {} {})",
            random_expression(rng, depth - 1),
            BINARY[rng.gen_range(0..BINARY.len())],
            random_expression(rng, depth - 1)
        ),
        2 => format!(
            "{} ? {} : {}",
            random_expression(rng, depth - 1),
            random_expression(rng, depth - 1),
            random_expression(rng, depth - 1)
        ),
        _ => {
            let (name, arity) = CALLS[rng.gen_range(0..CALLS.len())];
            let args: Vec<String> = (0..arity).map(|_| random_expression(rng, depth - 1)).collect();
            format!("{name}({})", args.join(", "))
        }
    }
}

/// Differential check on random expressions, whole and embedded in text.
#[test]
fn random_expressions_agree_with_the_reference() {
    use rand::SeedableRng;
    let data = json!({
        "count": 3, "name": "x", "list": [1, 2, 3], "obj": {"a": 1, "Name": "N"},
        "items": [{"n": "a"}, {"n": "b"}], "t": true, "f": false, "nul": null, "s": "5", "fl": 2.5,
        "zero": 0, "es": "", "big": 1234567.891, "neg": -42.5,
        "u": "é😀x", "huge": 1e21, "tiny": 1.5e-7, "deep": {"K": [{"V": [true, null]}]}
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let cases: Vec<String> = (0..1500)
        .map(|i| {
            let e = random_expression(&mut rng, 4);
            if i % 2 == 0 {
                format!("${{{e}}}")
            } else {
                format!("<${{{e}}}>")
            }
        })
        .collect();
    let jobs: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, case)| json!({"name": i.to_string(), "template": {"text": case}, "data": data}))
        .collect();
    let reference = node("expand.js", &Value::Array(jobs));
    let mut problems = Vec::new();
    for (case, theirs) in cases.iter().zip(reference.as_array().expect("array")) {
        let mine = drbot::cards::template::expand(&json!({"text": case}), &data);
        match (mine, theirs.get("card")) {
            (Ok(mine), Some(card)) if same_json(&mine, card) => {}
            (Err(_), None) => {}
            (mine, _) => problems.push(format!("{case}\n   rust {mine:?}\n   npm  {theirs}")),
        }
    }
    assert!(problems.is_empty(), "{} of {} differ:\n{}", problems.len(), cases.len(), problems.join("\n"));
}

/// A seeded random template: objects with `$data`/`$when`, arrays, and
/// strings holding expressions, whole or embedded.
fn random_template(rng: &mut impl rand::Rng, depth: u32) -> Value {
    const DATA: &[&str] =
        &["${items}", "${list}", "${obj}", "${missing}", "${nul}", "${$root.items}", "${take(list, 0)}", "${es}"];
    const WHEN: &[&str] = &["${t}", "${f}", "${n == 'a'}", "${$index > 0}", "${exists(n)}", "${count}", "${missing}"];
    match if depth == 0 { 0 } else { rng.gen_range(0..4) } {
        0 => {
            let e = random_expression(rng, 2);
            match rng.gen_range(0..3) {
                0 => Value::String(format!("${{{e}}}")),
                1 => Value::String(format!("{} ${{{e}}}", ["n", "$index"][rng.gen_range(0..2)])),
                _ => Value::String(["${n}", "${$index}", "${$data}", "plain", "${a}"][rng.gen_range(0..5)].to_string()),
            }
        }
        1 => Value::Array((0..rng.gen_range(0..4)).map(|_| random_template(rng, depth - 1)).collect()),
        _ => {
            let mut map = serde_json::Map::new();
            if rng.gen_ratio(1, 2) {
                map.insert("$data".into(), json!(DATA[rng.gen_range(0..DATA.len())]));
            }
            if rng.gen_ratio(1, 3) {
                map.insert("$when".into(), json!(WHEN[rng.gen_range(0..WHEN.len())]));
            }
            for key in ["a", "b", "c"].iter().take(rng.gen_range(1..4)) {
                map.insert(key.to_string(), random_template(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

#[test]
fn random_templates_agree_with_the_reference() {
    use rand::SeedableRng;
    let data = json!({
        "count": 3, "name": "x", "list": [1, 2, 3], "obj": {"a": 1, "Name": "N"},
        "items": [{"n": "a"}, {"n": "b"}], "t": true, "f": false, "nul": null, "s": "5", "fl": 2.5,
        "zero": 0, "es": "", "big": 1234567.891, "neg": -42.5
    });
    let mut rng = rand::rngs::StdRng::seed_from_u64(23);
    let templates: Vec<Value> = (0..600).map(|_| random_template(&mut rng, 4)).collect();
    let jobs: Vec<Value> = templates
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"name": i.to_string(), "template": {"root": t}, "data": data}))
        .collect();
    let reference = node("expand.js", &Value::Array(jobs));
    let mut problems = Vec::new();
    for (template, theirs) in templates.iter().zip(reference.as_array().expect("array")) {
        let mine = drbot::cards::template::expand(&json!({"root": template}), &data);
        match (mine, theirs.get("card")) {
            (Ok(mine), Some(card)) if same_json(&mine, card) => {}
            (Err(_), None) => {}
            (mine, _) => problems.push(format!("{template}\n   rust {mine:?}\n   npm  {theirs}")),
        }
    }
    assert!(problems.is_empty(), "{} of {} differ:\n{}", problems.len(), templates.len(), problems.join("\n"));
}
