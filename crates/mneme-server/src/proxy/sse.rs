//! Server-sent events both ways: a cached completion replayed as a well-formed stream (one
//! content chunk per choice, a finish chunk, `[DONE]`), and a streamed answer assembled into
//! the completion that is cached.

use serde_json::{json, Map, Value};

/// The SSE body that replays `completion` (a stored `chat.completion` or `text_completion`).
pub fn replay(completion: &Value, chat: bool) -> String {
    let id = completion.get("id").cloned().unwrap_or(Value::Null);
    let created = completion.get("created").cloned().unwrap_or(json!(0));
    let model = completion.get("model").cloned().unwrap_or(Value::Null);
    let choices = completion
        .get("choices")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let object = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let chunk = |choices: Vec<Value>| json!({"id": id, "object": object, "created": created, "model": model, "choices": choices});
    let mut out = String::new();
    let mut emit = |v: Value| out.push_str(&format!("data: {v}\n\n"));
    for (i, c) in choices.iter().enumerate() {
        let index = c.get("index").cloned().unwrap_or(json!(i));
        if chat {
            let message = c.get("message").cloned().unwrap_or_default();
            let role = message.get("role").cloned().unwrap_or(json!("assistant"));
            let content = message.get("content").cloned().unwrap_or(Value::Null);
            emit(chunk(vec![
                json!({"index": index, "delta": {"role": role, "content": content}, "finish_reason": null}),
            ]));
        } else {
            let text = c.get("text").cloned().unwrap_or(json!(""));
            emit(chunk(vec![
                json!({"index": index, "text": text, "finish_reason": null}),
            ]));
        }
    }
    for (i, c) in choices.iter().enumerate() {
        let index = c.get("index").cloned().unwrap_or(json!(i));
        let finish = c.get("finish_reason").cloned().unwrap_or(json!("stop"));
        let done = if chat {
            json!({"index": index, "delta": {}, "finish_reason": finish})
        } else {
            json!({"index": index, "text": "", "finish_reason": finish})
        };
        emit(chunk(vec![done]));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// Collects a streamed answer, event by event, into the completion it stands for.
#[derive(Default)]
pub struct Assembler {
    pending: String,
    head: Map<String, Value>,
    /// Per choice index: role, text, finish reason.
    choices: std::collections::BTreeMap<u64, (String, String, Value)>,
    usage: Option<Value>,
    done: bool,
    /// Something we do not reassemble (tool calls, function calls): not cached.
    unsupported: bool,
}

impl Assembler {
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            let line = line.trim_end_matches(['\r', '\n']);
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(data) else {
                self.unsupported = true;
                continue;
            };
            self.event(&v);
        }
    }

    fn event(&mut self, v: &Value) {
        for key in ["id", "created", "model", "system_fingerprint"] {
            if let Some(x) = v.get(key) {
                self.head.entry(key).or_insert_with(|| x.clone());
            }
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        for c in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let entry = self
                .choices
                .entry(index)
                .or_insert_with(|| ("assistant".into(), String::new(), Value::Null));
            if let Some(delta) = c.get("delta") {
                if delta.get("tool_calls").is_some() || delta.get("function_call").is_some() {
                    self.unsupported = true;
                }
                if let Some(r) = delta.get("role").and_then(Value::as_str) {
                    entry.0 = r.to_owned();
                }
                if let Some(t) = delta.get("content").and_then(Value::as_str) {
                    entry.1.push_str(t);
                }
            }
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                entry.1.push_str(t);
            }
            if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                entry.2 = f.clone();
            }
        }
    }

    /// The completion, if the stream ended properly with something we can replay.
    pub fn finish(self, chat: bool) -> Option<Value> {
        if !self.done || self.unsupported || self.choices.is_empty() {
            return None;
        }
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, (role, text, finish))| {
                if chat {
                    json!({"index": index, "message": {"role": role, "content": text}, "finish_reason": finish})
                } else {
                    json!({"index": index, "text": text, "finish_reason": finish})
                }
            })
            .collect();
        let mut out = self.head;
        out.insert(
            "object".into(),
            json!(if chat {
                "chat.completion"
            } else {
                "text_completion"
            }),
        );
        out.insert("choices".into(), Value::Array(choices));
        if let Some(u) = self.usage {
            out.insert("usage".into(), u);
        }
        Some(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_stream_assembles_back_into_the_completion() {
        let completion = json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}]});
        let sse = replay(&completion, true);
        assert!(sse.ends_with("data: [DONE]\n\n"));
        let mut a = Assembler::default();
        for piece in sse.as_bytes().chunks(7) {
            a.feed(piece); // events split anywhere
        }
        assert_eq!(a.finish(true).unwrap(), completion);
    }

    #[test]
    fn an_unfinished_or_tool_stream_is_not_cached() {
        let mut a = Assembler::default();
        a.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n");
        assert!(a.finish(true).is_none(), "no [DONE]");
        let mut a = Assembler::default();
        a.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[]}}]}\n\ndata: [DONE]\n\n");
        assert!(a.finish(true).is_none());
    }
}
