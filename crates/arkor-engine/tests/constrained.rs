//! Constrained decoding on the tiny model with random weights: whatever the weights
//! would say, the output follows the grammar.
mod common;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arkor_engine::chat::encode_chat_prompt;
use arkor_engine::{
    parse_tool_calls, tool_grammar, ChatMessage, ConstraintError, FinishReason, Generator, GrammarSpec, LoraAdapter,
    LoraConfig, Model, SamplingParams, Target, ToolCallStream, ToolChoice, ToolSpec, ToolStreamEvent, TrainConfig, Trainer,
};
use common::{dataset, tiny};
use serde_json::{json, Value};

fn prompt(model: &Model, text: &str) -> Vec<u32> {
    encode_chat_prompt(model.tokenizer(), &[ChatMessage::new("user", text)]).unwrap()
}

/// Greedy, then sampling at a few temperatures and top-p values with several seeds.
fn settings(max_tokens: usize) -> Vec<SamplingParams> {
    let mut out = vec![SamplingParams { max_tokens, ..Default::default() }];
    for (seed, (temperature, top_p)) in [(1.0, 1.0), (1.5, 0.9), (0.7, 0.5), (2.0, 1.0)].into_iter().enumerate() {
        out.push(SamplingParams { max_tokens, temperature, top_p, seed: seed as u64 + 7, ..Default::default() });
    }
    out
}

fn run(model: &Arc<Model>, adapter: Option<Arc<LoraAdapter>>, spec: &GrammarSpec, params: &SamplingParams) -> (String, FinishReason) {
    let grammar = model.constraints().unwrap().compile(spec).unwrap();
    let g = Generator::new(model.clone(), adapter, &prompt(model, "Triage: I cannot log in."), params.clone())
        .unwrap()
        .with_constraint(&grammar);
    let out = g.run(|_| true).unwrap();
    (out.text, out.finish_reason)
}

/// The JSON schema subset the tests use, checked by hand: type, enum, const, properties,
/// required, additionalProperties false, string length, integer bounds, array items/length.
fn validate(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{path}: {what} (value {v})"));
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return fail("not in enum");
        }
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            return fail("not the const");
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let o = v.as_object().ok_or("not an object")?;
            let props = schema.get("properties").and_then(Value::as_object);
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                if !o.contains_key(r.as_str().unwrap()) {
                    return fail(&format!("missing {r}"));
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(s, x, &format!("{path}.{k}"))?,
                    None if schema.get("additionalProperties") == Some(&json!(false)) => return fail(&format!("extra {k}")),
                    None => {}
                }
            }
        }
        Some("string") => {
            let s = v.as_str().ok_or("not a string")?;
            let n = s.chars().count() as u64;
            if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|m| n > m) || schema.get("minLength").and_then(Value::as_u64).is_some_and(|m| n < m) {
                return fail("length out of bounds");
            }
        }
        Some("integer") => {
            let i = v.as_i64().ok_or("not an integer")?;
            if schema.get("minimum").and_then(Value::as_i64).is_some_and(|m| i < m) || schema.get("maximum").and_then(Value::as_i64).is_some_and(|m| i > m) {
                return fail("out of range");
            }
        }
        Some("boolean") if !v.is_boolean() => return fail("not a boolean"),
        Some("array") => {
            let a = v.as_array().ok_or("not an array")?;
            if schema.get("maxItems").and_then(Value::as_u64).is_some_and(|m| a.len() as u64 > m) {
                return fail("too many items");
            }
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    validate(items, x, &format!("{path}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn triage_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["billing", "login", "bug", "feature"]},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "urgent": {"type": "boolean"},
            "summary": {"type": "string", "maxLength": 12},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 2}
        },
        "required": ["category", "priority", "urgent", "summary", "tags"],
        "additionalProperties": false
    })
}

#[test]
fn json_schema_output_always_parses_and_validates() {
    let model = tiny();
    let schema = triage_schema();
    let spec = GrammarSpec::JsonSchema(schema.clone());
    for params in settings(300) {
        let (text, finish) = run(&model, None, &spec, &params);
        assert_eq!(finish, FinishReason::Stop, "{params:?} did not finish: {text}");
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{params:?}: {e}: {text}"));
        validate(&schema, &v, "$").unwrap_or_else(|e| panic!("{params:?}: {e}: {text}"));
    }
}

#[test]
fn json_object_mode_gives_an_object() {
    let model = tiny();
    // Any object may nest without end under random weights; a generous budget and
    // greedy decoding keep this deterministic, and only a finished answer is judged.
    let (text, finish) = run(&model, None, &GrammarSpec::JsonObject, &SamplingParams { max_tokens: 200, ..Default::default() });
    assert!(text.starts_with('{'), "{text}");
    if finish == FinishReason::Stop {
        assert!(serde_json::from_str::<Value>(&text).unwrap().is_object(), "{text}");
    }
}

#[test]
fn choice_returns_one_of_the_options() {
    let model = tiny();
    let options = vec!["positive".to_string(), "negative".to_string(), "needs \"review\"".to_string()];
    let spec = GrammarSpec::Choice(options.clone());
    for params in settings(20) {
        let (text, finish) = run(&model, None, &spec, &params);
        assert_eq!(finish, FinishReason::Stop);
        assert!(options.contains(&text), "{params:?}: {text:?}");
    }
}

#[test]
fn regex_output_matches() {
    let model = tiny();
    let rx = r"[A-Z]{2}-[0-9]{3,4}( \(urgent\))?";
    let whole = regex::Regex::new(&format!("^(?:{rx})$")).unwrap();
    for params in settings(20) {
        let (text, finish) = run(&model, None, &GrammarSpec::Regex(rx.into()), &params);
        assert_eq!(finish, FinishReason::Stop, "{text:?}");
        assert!(whole.is_match(&text), "{params:?}: {text:?}");
    }
}

#[test]
fn anchored_regex_and_gbnf_grammar_as_vllm_users_write_them() {
    let model = tiny();
    let (text, _) = run(&model, None, &GrammarSpec::Regex(r"^[A-Z]{3}-\d{4}$".into()), &SamplingParams { max_tokens: 20, ..Default::default() });
    assert!(regex::Regex::new(r"^[A-Z]{3}-\d{4}$").unwrap().is_match(&text), "{text:?}");
    let gbnf = "root ::= \"zero\" | \"one\" | num\nnum ::= [2-9] [0-9]?";
    let num = regex::Regex::new("^[2-9][0-9]?$").unwrap();
    for params in settings(8) {
        let (text, _) = run(&model, None, &GrammarSpec::Lark(gbnf.into()), &params);
        assert!(text == "zero" || text == "one" || num.is_match(&text), "{text:?}");
    }
}

#[test]
fn lark_grammar_is_followed() {
    let model = tiny();
    let g = "start: \"answer: \" (\"yes\" | \"no\") \".\"";
    for params in settings(12) {
        let (text, _) = run(&model, None, &GrammarSpec::Lark(g.into()), &params);
        assert!(text == "answer: yes." || text == "answer: no.", "{text:?}");
    }
}

fn weather_tools() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "get_weather".into(),
            description: Some("Current weather in a city".into()),
            parameters: Some(json!({
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 10}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"],
                "additionalProperties": false
            })),
        },
        ToolSpec {
            name: "get_time".into(),
            description: None,
            parameters: Some(json!({
                "type": "object",
                "properties": {"zone": {"type": "integer", "minimum": -12, "maximum": 14}},
                "required": ["zone"],
                "additionalProperties": false
            })),
        },
    ]
}

#[test]
fn a_required_tool_call_validates_against_its_parameters() {
    let model = tiny();
    let tools = weather_tools();
    for choice in [ToolChoice::Required, ToolChoice::Function("get_time".into())] {
        let spec = tool_grammar(&tools, &choice);
        for params in settings(120) {
            let (mut text, finish) = run(&model, None, &spec, &params);
            if finish == FinishReason::Length {
                // Random weights may call on and on; the calls before the cut must hold.
                text.truncate(text.rfind("</tool_call>").expect("at least one call completes") + "</tool_call>".len());
            }
            let calls = parse_tool_calls(&text).unwrap_or_else(|| panic!("{choice:?} {params:?}: not calls: {text}"));
            assert!(!calls.is_empty());
            for c in &calls {
                if let ToolChoice::Function(n) = &choice {
                    assert_eq!(&c.name, n);
                }
                let tool = tools.iter().find(|t| t.name == c.name).unwrap_or_else(|| panic!("unknown tool {}", c.name));
                let args: Value = serde_json::from_str(&c.arguments).unwrap();
                validate(tool.parameters.as_ref().unwrap(), &args, &c.name).unwrap();
            }
        }
    }
}

#[test]
fn auto_and_none_tool_choice() {
    let model = tiny();
    let tools = weather_tools();
    for params in settings(60) {
        let (text, _) = run(&model, None, &tool_grammar(&tools, &ToolChoice::None), &params);
        assert!(!text.starts_with("<tool_call>"), "{text}");
        let (text, finish) = run(&model, None, &tool_grammar(&tools, &ToolChoice::Auto), &params);
        if text.starts_with("<tool_call>") && finish == FinishReason::Stop {
            assert!(parse_tool_calls(&text).is_some(), "{text}");
        }
    }
}

#[test]
fn tool_call_stream_gives_the_same_calls_as_the_whole_text() {
    let text = "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Par}is\",\"unit\":\"c\"}}</tool_call>\n<tool_call>{\"name\":\"get_time\",\"arguments\":{\"zone\":2}}</tool_call>";
    let whole = parse_tool_calls(text).unwrap();
    for step in [1, 2, 5, 13, text.len()] {
        let mut s = ToolCallStream::new();
        let mut events = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(step) {
            events.extend(s.push(&piece.iter().collect::<String>()));
        }
        events.extend(s.finish());
        assert!(s.is_calls());
        let mut names = Vec::new();
        let mut args: Vec<String> = Vec::new();
        for e in events {
            match e {
                ToolStreamEvent::CallStart { index, name } => {
                    assert_eq!(index, names.len());
                    names.push(name);
                    args.push(String::new());
                }
                ToolStreamEvent::Arguments { index, delta } => args[index].push_str(&delta),
                ToolStreamEvent::Text(t) => panic!("text {t:?} in a call answer"),
            }
        }
        let got: Vec<(String, Value)> = names.into_iter().zip(args.iter().map(|a| serde_json::from_str(a).unwrap())).collect();
        let want: Vec<(String, Value)> = whole.iter().map(|c| (c.name.clone(), serde_json::from_str(&c.arguments).unwrap())).collect();
        assert_eq!(got, want, "chunks of {step}");
    }
    let mut s = ToolCallStream::new();
    let mut text_out = String::new();
    for piece in ["<tool", "s are fun"] {
        for e in s.push(piece) {
            let ToolStreamEvent::Text(t) = e else { panic!("not text") };
            text_out.push_str(&t);
        }
    }
    assert!(!s.is_calls());
    assert_eq!(text_out, "<tools are fun");
}

#[test]
fn constrained_decoding_works_with_an_adapter() {
    let model = tiny();
    let mut t = Trainer::new(
        model.clone(),
        &dataset(),
        TrainConfig {
            lora: LoraConfig { r: 4, alpha: 8.0, targets: Target::ALL.to_vec() },
            learning_rate: 1e-2,
            max_steps: Some(3),
            ..TrainConfig::default()
        },
    )
    .unwrap();
    t.run(&mut (), &AtomicBool::new(false)).unwrap();
    let adapter = Arc::new(t.adapter().snapshot().unwrap());
    let schema = triage_schema();
    for params in settings(300) {
        let (text, _) = run(&model, Some(adapter.clone()), &GrammarSpec::JsonSchema(schema.clone()), &params);
        validate(&schema, &serde_json::from_str(&text).unwrap(), "$").unwrap();
    }
}

#[test]
fn a_schema_used_twice_is_compiled_once() {
    let model = tiny();
    let c = model.constraints().unwrap();
    let before = c.compilations();
    let spec = GrammarSpec::JsonSchema(json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}));
    let a = c.compile(&spec).unwrap();
    let b = c.compile(&spec.clone()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(c.compilations(), before + 1);
    c.compile(&GrammarSpec::Regex("x+".into())).unwrap();
    assert_eq!(c.compilations(), before + 2);
}

#[test]
fn bad_specs_are_errors_with_the_parsers_message() {
    let model = tiny();
    let c = model.constraints().unwrap();
    let err = |s: GrammarSpec| c.compile(&s).unwrap_err();
    assert!(matches!(err(GrammarSpec::Regex("(unclosed".into())), ConstraintError::Regex(m) if !m.is_empty()));
    assert!(matches!(err(GrammarSpec::Lark("start: undefined_rule".into())), ConstraintError::Grammar(m) if m.contains("undefined_rule")));
    assert!(matches!(err(GrammarSpec::JsonSchema(json!({"type": "nonsense"}))), ConstraintError::JsonSchema(_)));
    assert!(matches!(err(GrammarSpec::JsonSchema(json!(3))), ConstraintError::JsonSchema(_)));
    assert_eq!(err(GrammarSpec::Choice(vec![])), ConstraintError::EmptyChoice);
    // Specs no text satisfies fail at the first mask: the message is one line a user can
    // act on, not the parser's state.
    for spec in [GrammarSpec::Regex(r"[^\s\S]".into()), GrammarSpec::JsonSchema(json!({"$ref": "#"}))] {
        let m = err(spec.clone()).to_string();
        assert!(m.contains("no text can satisfy it") && !m.contains('\n') && m.len() < 400, "{spec:?}: {m}");
    }
}
