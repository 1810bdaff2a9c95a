//! One audit line per tool call on stderr, with input text redacted to its
//! length and a hash (so a log shows what was done, not what was typed).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Argument keys shown as they are: they identify, they carry no input.
const SHOWN: &[&str] = &["session", "name", "source", "cwd", "regex", "raw"];

/// `args` with every string (except [`SHOWN`] keys) replaced by
/// `<N bytes sha256:XXXXXXXX>`; numbers and booleans are kept.
pub fn redact(args: &Map<String, Value>) -> Value {
    Value::Object(
        args.iter()
            .map(|(k, v)| {
                let v = if SHOWN.contains(&k.as_str()) {
                    v.clone()
                } else {
                    redact_value(v)
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

fn redact_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(redacted(s)),
        Value::Array(a) => Value::Array(a.iter().map(redact_value).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (redacted(k), redact_value(v))).collect()),
        other => other.clone(),
    }
}

fn redacted(s: &str) -> String {
    let hash = Sha256::digest(s.as_bytes());
    let hex: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("<{} bytes sha256:{hex}>", s.len())
}

/// Writes the audit line for one finished call.
pub fn log(tool: &str, args: Option<&Map<String, Value>>, millis: f64, outcome: &str) {
    let args = args.map(redact).unwrap_or(Value::Null);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    eprintln!("bgterm-mcp audit t={t:.3} tool={tool} args={args} ms={millis:.2} result={outcome}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_text_is_replaced_by_length_and_hash() {
        let args = serde_json::json!({"session": 3, "text": "secret\n", "keys": ["C-c"], "yield_ms": 5});
        let r = redact(args.as_object().expect("object")).to_string();
        assert!(!r.contains("secret") && !r.contains("C-c"), "{r}");
        assert!(
            r.contains("\"session\":3") && r.contains("<7 bytes sha256:") && r.contains("\"yield_ms\":5"),
            "{r}"
        );
    }
}
