//! What a proxied request is matched on, and what it must match exactly. The text matched
//! semantically is the last user message (or the whole conversation, by configuration);
//! everything else that changes the answer (model, system prompt, earlier turns, tools,
//! response format, sampling parameters, `n`...) is hashed into an exact scope, so a hit never
//! crosses models, system prompts or conversations.

use crate::config::ScopeRule;
use crate::error::ApiError;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Fields that never change the answer's content: how it is delivered, and who asked.
const DELIVERY: [&str; 3] = ["stream", "stream_options", "user"];

/// The semantic query and the exact scope of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub query: String,
    /// Hex digest of the scope; part of the namespace the request is cached in.
    pub scope: String,
}

/// `/v1/chat/completions`.
pub fn chat(body: &Map<String, Value>, rule: ScopeRule) -> Result<Keyed, ApiError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "messages must be a non-empty array. Remediation: send the chat messages",
            )
        })?;
    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let last_user = messages
        .iter()
        .rposition(|m| role(m) == "user")
        .ok_or_else(|| {
            ApiError::bad_request("messages has no user message. Remediation: add one")
        })?;
    let (query, context): (String, Vec<&Value>) = match rule {
        ScopeRule::WholeConversation => (
            messages
                .iter()
                .map(|m| format!("{}: {}", role(m), text_of(m)))
                .collect::<Vec<_>>()
                .join("\n"),
            Vec::new(),
        ),
        ScopeRule::LastUserMessage => (
            text_of(&messages[last_user]),
            messages
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != last_user)
                .map(|(_, m)| m)
                .collect(),
        ),
        ScopeRule::IgnoreSystemPrompt => (
            text_of(&messages[last_user]),
            messages
                .iter()
                .enumerate()
                .filter(|(i, m)| {
                    *i != last_user && !matches!(role(m).as_str(), "system" | "developer")
                })
                .map(|(_, m)| m)
                .collect(),
        ),
    };
    let mut scope = without(body, &["messages"]);
    scope.insert(
        "~context".into(),
        Value::Array(context.into_iter().cloned().collect()),
    );
    scope.insert("~endpoint".into(), "chat".into());
    Ok(Keyed {
        query,
        scope: digest(&scope),
    })
}

/// `/v1/completions`.
pub fn completion(body: &Map<String, Value>) -> Result<Keyed, ApiError> {
    let query = match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) if parts.iter().all(Value::is_string) && !parts.is_empty() => {
            parts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => {
            return Err(ApiError::bad_request(
                "prompt must be a string or an array of strings. Remediation: send the prompt text",
            ))
        }
    };
    let mut scope = without(body, &["prompt"]);
    scope.insert("~endpoint".into(), "completions".into());
    Ok(Keyed {
        query,
        scope: digest(&scope),
    })
}

/// A message's text: a string, or the text parts of a content array.
fn text_of(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn without(body: &Map<String, Value>, also: &[&str]) -> Map<String, Value> {
    body.iter()
        .filter(|(k, _)| !DELIVERY.contains(&k.as_str()) && !also.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// SHA-256 of the scope's canonical JSON (serde_json's maps keep keys sorted).
fn digest(scope: &Map<String, Value>) -> String {
    let text = serde_json::to_string(scope).unwrap_or_default();
    let hash = Sha256::digest(text.as_bytes());
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keyed(v: Value, rule: ScopeRule) -> Keyed {
        chat(v.as_object().unwrap(), rule).unwrap()
    }

    #[test]
    fn the_last_user_message_is_matched_and_everything_else_scopes() {
        let base = json!({"model": "m", "temperature": 0, "messages": [
            {"role": "system", "content": "be brief"}, {"role": "user", "content": "hi?"}]});
        let k = keyed(base.clone(), ScopeRule::LastUserMessage);
        assert_eq!(k.query, "hi?");
        let mut streamed = base.clone();
        streamed["stream"] = json!(true);
        assert_eq!(
            keyed(streamed, ScopeRule::LastUserMessage).scope,
            k.scope,
            "delivery is not scope"
        );
        for change in [
            json!({"model": "other"}),
            json!({"temperature": 1}),
            json!({"n": 2}),
        ] {
            let mut v = base.clone();
            for (key, value) in change.as_object().unwrap() {
                v[key] = value.clone();
            }
            assert_ne!(
                keyed(v, ScopeRule::LastUserMessage).scope,
                k.scope,
                "{change}"
            );
        }
        let mut other_system = base.clone();
        other_system["messages"][0]["content"] = json!("be verbose");
        assert_ne!(
            keyed(other_system.clone(), ScopeRule::LastUserMessage).scope,
            k.scope
        );
        assert_eq!(
            keyed(other_system, ScopeRule::IgnoreSystemPrompt).scope,
            keyed(base.clone(), ScopeRule::IgnoreSystemPrompt).scope
        );
        let whole = keyed(base, ScopeRule::WholeConversation);
        assert_eq!(whole.query, "system: be brief\nuser: hi?");
    }

    #[test]
    fn content_parts_and_prompts_are_text() {
        let v = json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]});
        assert_eq!(keyed(v, ScopeRule::LastUserMessage).query, "a\nb");
        let c = completion(
            json!({"model": "m", "prompt": "say hi"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(c.query, "say hi");
        assert!(chat(
            json!({"model": "m", "messages": []}).as_object().unwrap(),
            ScopeRule::LastUserMessage
        )
        .is_err());
    }
}
