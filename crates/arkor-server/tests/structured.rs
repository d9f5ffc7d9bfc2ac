//! Structured outputs and tool calls through `POST /v1/inference/chat` on the tiny
//! model: one test per request shape, and per error.
mod common;

use common::{parse_sse, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const CHAT: &str = "/v1/inference/chat?orgSlug=local&projectSlug=p";

fn body(extra: Value) -> Value {
    let mut b = json!({
        "messages": [{"role": "user", "content": "I can't log in to my account."}],
        "baseModel": "arkor/tiny-gemma3",
        "stream": false,
        "maxTokens": 200,
    });
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn chat(s: &TestServer, extra: Value) -> (u16, Value) {
    s.json(Method::POST, CHAT, Some(body(extra))).await
}

async fn server() -> TestServer {
    let s = TestServer::new().await;
    s.project().await;
    s
}

fn content(out: &Value) -> &str {
    out["choices"][0]["message"]["content"].as_str().unwrap_or_else(|| panic!("no content: {out}"))
}

fn triage() -> Value {
    json!({
        "type": "object",
        "properties": {
            "category": {"type": "string", "enum": ["billing", "login", "bug"]},
            "summary": {"type": "string", "maxLength": 16}
        },
        "required": ["category", "summary"],
        "additionalProperties": false
    })
}

#[tokio::test]
async fn response_format_json_schema_gives_schema_valid_json() {
    let s = server().await;
    let (st, out) = chat(&s, json!({"responseFormat": {"type": "json_schema", "json_schema": {"name": "triage", "schema": triage(), "strict": true}}})).await;
    assert_eq!(st, 200, "{out}");
    let v: Value = serde_json::from_str(content(&out)).unwrap();
    assert!(["billing", "login", "bug"].contains(&v["category"].as_str().unwrap()), "{v}");
    assert!(v["summary"].as_str().unwrap().chars().count() <= 16);
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn response_format_json_object_and_text() {
    let s = server().await;
    let (st, out) = chat(&s, json!({"responseFormat": {"type": "json_object"}, "maxTokens": 300})).await;
    assert_eq!(st, 200, "{out}");
    assert!(content(&out).starts_with('{'), "{out}");
    if out["choices"][0]["finish_reason"] == "stop" {
        assert!(serde_json::from_str::<Value>(content(&out)).unwrap().is_object());
    }
    let (st, out) = chat(&s, json!({"responseFormat": {"type": "text"}, "maxTokens": 4})).await;
    assert_eq!(st, 200, "{out}");
}

#[tokio::test]
async fn structured_outputs_choice_regex_grammar_json() {
    let s = server().await;
    let (st, out) = chat(&s, json!({"structuredOutputs": {"choice": ["low", "medium", "high"]}})).await;
    assert_eq!(st, 200, "{out}");
    assert!(["low", "medium", "high"].contains(&content(&out)), "{out}");

    let (st, out) = chat(&s, json!({"structuredOutputs": {"regex": "[A-Z]{3}-[0-9]{4}"}})).await;
    assert_eq!(st, 200, "{out}");
    let c = content(&out);
    assert!(c.len() == 8 && c[..3].chars().all(|x| x.is_ascii_uppercase()) && &c[3..4] == "-" && c[4..].chars().all(|x| x.is_ascii_digit()), "{c}");

    let (st, out) = chat(&s, json!({"structuredOutputs": {"grammar": "start: \"ok \" (\"yes\" | \"no\")"}})).await;
    assert_eq!(st, 200, "{out}");
    assert!(["ok yes", "ok no"].contains(&content(&out)), "{out}");

    let (st, out) = chat(&s, json!({"structuredOutputs": {"json": triage(), "disable_any_whitespace": true}, "temperature": 1.0, "topP": 0.9, "seed": 3})).await;
    assert_eq!(st, 200, "{out}");
    let v: Value = serde_json::from_str(content(&out)).unwrap();
    assert!(v["category"].is_string() && v["summary"].is_string(), "{v}");

    let (st, out) = chat(&s, json!({"structuredOutputs": {"json_object": true}, "maxTokens": 300})).await;
    assert_eq!(st, 200, "{out}");
    assert!(content(&out).starts_with('{'));
}

fn order_tool() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Look up an order.",
            "parameters": {"type": "object", "properties": {"orderId": {"type": "string", "maxLength": 8}}, "required": ["orderId"], "additionalProperties": false}
        }
    }])
}

fn check_call(call: &Value) {
    assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_order_status");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["orderId"].as_str().unwrap().chars().count() <= 8, "{args}");
    assert_eq!(args.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn required_and_named_tool_choice_return_tool_calls() {
    let s = server().await;
    for choice in [json!("required"), json!({"type": "function", "function": {"name": "get_order_status"}})] {
        let (st, out) = chat(&s, json!({"tools": order_tool(), "toolChoice": choice, "maxTokens": 200})).await;
        assert_eq!(st, 200, "{out}");
        let msg = &out["choices"][0]["message"];
        let calls = msg["tool_calls"].as_array().unwrap_or_else(|| panic!("no tool_calls: {out}"));
        assert!(!calls.is_empty());
        assert!(msg["content"].is_null());
        // Random weights may call again and again until maxTokens; the calls made are whole.
        let finish = out["choices"][0]["finish_reason"].as_str().unwrap();
        assert!(finish == "tool_calls" || finish == "length", "{finish}");
        for c in calls.iter().filter(|c| c["function"]["arguments"].as_str().is_some_and(|a| serde_json::from_str::<Value>(a).is_ok())) {
            check_call(c);
        }
        check_call(&calls[0]);
    }
}

#[tokio::test]
async fn tool_choice_auto_and_none() {
    let s = server().await;
    let (st, out) = chat(&s, json!({"tools": order_tool(), "toolChoice": "none", "maxTokens": 12})).await;
    assert_eq!(st, 200, "{out}");
    assert!(out["choices"][0]["message"]["tool_calls"].is_null());
    assert!(!content(&out).starts_with("<tool_call>"));
    let (st, out) = chat(&s, json!({"tools": order_tool(), "maxTokens": 200})).await;
    assert_eq!(st, 200, "{out}");
    let msg = &out["choices"][0]["message"];
    match msg["tool_calls"].as_array() {
        Some(calls) => check_call(&calls[0]),
        None => assert!(!content(&out).starts_with("<tool_call>")),
    }
}

#[tokio::test]
async fn streamed_tool_calls_are_openai_deltas() {
    let s = server().await;
    let mut b = body(json!({"tools": order_tool(), "toolChoice": "required", "maxTokens": 200}));
    b["stream"] = json!(true);
    let text = s.req(Method::POST, CHAT).json(&b).send().await.unwrap().text().await.unwrap();
    let frames: Vec<Value> = parse_sse(&text).into_iter().filter(|f| f.2 != "[DONE]").map(|f| serde_json::from_str(&f.2).unwrap()).collect();
    let deltas: Vec<&Value> = frames.iter().map(|f| &f["choices"][0]["delta"]).collect();
    let first = deltas.iter().find(|d| d["tool_calls"].is_array()).expect("a tool-call delta");
    let head = &first["tool_calls"][0];
    assert_eq!((head["index"].as_u64(), head["type"].as_str()), (Some(0), Some("function")));
    assert_eq!(head["function"]["name"], "get_order_status");
    let id = head["id"].as_str().unwrap();
    let args: String = deltas
        .iter()
        .flat_map(|d| d["tool_calls"].as_array().into_iter().flatten())
        .filter(|c| c["index"] == 0)
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    check_call(&json!({"id": id, "type": "function", "function": {"name": "get_order_status", "arguments": args}}));
    assert!(deltas.iter().all(|d| d["content"].is_null()), "no text in a call answer");
    let finish = frames.last().unwrap()["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "tool_calls" || finish == "length");
}

#[tokio::test]
async fn tool_turns_in_messages_are_accepted() {
    let s = server().await;
    let (st, out) = chat(&s, json!({
        "messages": [
            {"role": "user", "content": "Where is order 42?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_order_status", "arguments": "{\"orderId\":\"42\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"status\":\"shipped\"}"}
        ],
        "tools": order_tool(),
        "toolChoice": "none",
        "maxTokens": 4
    })).await;
    assert_eq!(st, 200, "{out}");
}

async fn refused(s: &TestServer, extra: Value, field: &str, also: &str) {
    let (st, out) = chat(s, extra.clone()).await;
    assert_eq!(st, 400, "{extra}: {out}");
    let msg = out["error"].as_str().map(str::to_owned).unwrap_or_else(|| out.to_string());
    assert!(msg.contains(&format!("`{field}`")), "{extra}: {msg}");
    assert!(msg.contains(also), "{extra}: {msg}");
}

#[tokio::test]
async fn invalid_schema_regex_and_grammar_are_400s_with_the_parsers_message() {
    let s = server().await;
    refused(&s, json!({"responseFormat": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}}), "responseFormat.json_schema.schema", "invalid JSON schema").await;
    refused(&s, json!({"structuredOutputs": {"regex": "(unclosed"}}), "structuredOutputs.regex", "invalid regex").await;
    refused(&s, json!({"structuredOutputs": {"grammar": "start: missing_rule"}}), "structuredOutputs.grammar", "missing_rule").await;
    refused(&s, json!({"structuredOutputs": {"json_object": true, "whitespace_pattern": "(unclosed"}}), "structuredOutputs.whitespace_pattern", "invalid regex").await;
    refused(&s, json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}], "toolChoice": "required"}), "tools[0].function.parameters", "invalid JSON schema").await;
}

#[tokio::test]
async fn malformed_constraint_fields_are_400s_naming_the_field() {
    let s = server().await;
    refused(&s, json!({"responseFormat": {"type": "xml"}}), "responseFormat.type", "json_schema").await;
    refused(&s, json!({"responseFormat": {"type": "json_schema"}}), "responseFormat.json_schema", "name, schema").await;
    refused(&s, json!({"responseFormat": {"type": "json_schema", "json_schema": {"schema": {}}}}), "responseFormat.json_schema.name", "string").await;
    refused(&s, json!({"structuredOutputs": {}}), "structuredOutputs", "exactly one").await;
    refused(&s, json!({"structuredOutputs": {"regex": "a", "choice": ["a"]}}), "structuredOutputs", "regex, choice").await;
    refused(&s, json!({"structuredOutputs": {"choice": []}}), "structuredOutputs.choice", "non-empty").await;
    refused(&s, json!({"structuredOutputs": {"json_object": false}}), "structuredOutputs.json_object", "true").await;
    refused(&s, json!({"structuredOutputs": {"regexp": "a"}}), "structuredOutputs.regexp", "not a structured-outputs field").await;
    refused(&s, json!({"responseFormat": {"type": "json_object"}, "structuredOutputs": {"regex": "a"}}), "responseFormat", "not both").await;
    refused(&s, json!({"tools": {"name": "f"}}), "tools", "array").await;
    refused(&s, json!({"tools": [{"type": "function", "function": {}}]}), "tools[0].function.name", "non-empty").await;
    refused(&s, json!({"tools": order_tool(), "toolChoice": "always"}), "toolChoice", "auto, none, required").await;
    refused(&s, json!({"tools": order_tool(), "toolChoice": {"type": "function", "function": {"name": "nope"}}}), "toolChoice.function.name", "not among").await;
    refused(&s, json!({"toolChoice": "required"}), "toolChoice", "`tools` is empty").await;
    refused(&s, json!({"tools": order_tool(), "responseFormat": {"type": "json_object"}}), "responseFormat", "\"none\"").await;
    refused(&s, json!({"messages": [{"role": "tool", "content": "x"}]}), "messages[0].tool_call_id", "id of the call").await;
    refused(&s, json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]}), "messages[0].tool_calls[0].function.arguments", "not JSON").await;
}
