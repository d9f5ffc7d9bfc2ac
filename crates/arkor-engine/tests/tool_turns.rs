//! Tool turns in the chat template (definitions, assistant calls, tool results) and in
//! chatml training rows.
use arkor_engine::chat::{render_chat, with_tools};
use arkor_engine::data::{parse_dataset, DatasetFormat};
use arkor_engine::tool_text::{ToolCall, ToolSpec};
use arkor_engine::{parse_tool_calls, ChatMessage, Example};
use serde_json::json;

fn weather() -> ToolSpec {
    ToolSpec {
        name: "get_weather".into(),
        description: Some("Weather in a city".into()),
        parameters: Some(json!({"type": "object", "properties": {"city": {"type": "string"}}})),
    }
}

#[test]
fn definitions_calls_and_results_render_in_the_documented_layout() {
    let msgs = vec![
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "Weather in Paris and Rome?"),
        ChatMessage::assistant_calls(
            "",
            vec![
                ToolCall { id: "c1".into(), name: "get_weather".into(), arguments: "{ \"city\": \"Paris\" }".into() },
                ToolCall { id: "c2".into(), name: "get_weather".into(), arguments: "{\"city\":\"Rome\"}".into() },
            ],
        ),
        ChatMessage::tool_result("c1", "sunny"),
        ChatMessage::tool_result("c2", "rain"),
    ];
    let text = render_chat(&with_tools(&msgs, &[weather()]), true).unwrap();
    let want = concat!(
        "<bos><start_of_turn>user\nBe brief.\n\nYou can call these tools:\n<tools>\n",
        "{\"name\":\"get_weather\",\"description\":\"Weather in a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}\n",
        "</tools>\nTo call tools, answer with nothing but one line per call: ",
        "<tool_call>{\"name\":\"NAME\",\"arguments\":{\"ARGUMENT\":\"VALUE\"}}</tool_call>\n\n",
        "Weather in Paris and Rome?<end_of_turn>\n",
        "<start_of_turn>model\n",
        "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>\n",
        "<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Rome\"}}</tool_call><end_of_turn>\n",
        "<start_of_turn>user\n<tool_response id=\"c1\" name=\"get_weather\">\nsunny\n</tool_response>\n",
        "<tool_response id=\"c2\" name=\"get_weather\">\nrain\n</tool_response><end_of_turn>\n",
        "<start_of_turn>model\n",
    );
    assert_eq!(text, want);
    // What the template writes for a call is what the generation side reads back.
    let model_turn = text.split("<start_of_turn>model\n").nth(1).unwrap().split("<end_of_turn>").next().unwrap();
    let calls = parse_tool_calls(model_turn).unwrap();
    assert_eq!(calls.iter().map(|c| c.arguments.as_str()).collect::<Vec<_>>(), ["{\"city\":\"Paris\"}", "{\"city\":\"Rome\"}"]);
    // No tools: the conversation is unchanged.
    assert_eq!(with_tools(&msgs, &[]), msgs);
}

#[test]
fn chatml_rows_take_tools_tool_calls_and_tool_messages() {
    let row = json!({
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."}
        ]
    });
    let ex = parse_dataset(format!("{row}\n").as_bytes(), "rows.jsonl", DatasetFormat::Chatml).unwrap();
    let Example::Chat(m) = &ex[0] else { panic!("not a chat") };
    assert_eq!(m[0].role, "system");
    assert!(m[0].content.contains("<tools>\n{\"name\":\"get_weather\""), "{}", m[0].content);
    assert_eq!(m[2].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    assert_eq!(m[3].tool_call_id.as_deref(), Some("c1"));

    let bad = |row: serde_json::Value| parse_dataset(format!("{row}\n").as_bytes(), "rows.jsonl", DatasetFormat::Chatml).unwrap_err().to_string();
    let e = bad(json!({"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}]}));
    assert!(e.contains("row 1") && e.contains("messages[0].tool_call_id"), "{e}");
    let e = bad(json!({"tools": [{"function": {}}], "messages": [{"role": "assistant", "content": "y"}]}));
    assert!(e.contains("tools[0].function.name"), "{e}");
    let e = bad(json!({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}]}));
    assert!(e.contains("messages[0].tool_calls[0].function.arguments is not JSON"), "{e}");
}
