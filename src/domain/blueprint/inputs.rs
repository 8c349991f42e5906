//! Checking the inputs of a request against a blueprint's typed inputs.
use std::collections::BTreeMap;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::Value;

use super::types::{Blueprint, InputSpec, InputType, InputValue};

/// The validated inputs of one deployment, by name.
pub type InputValues = BTreeMap<String, InputValue>;

/// Validated inputs as stored with a request or a deployment, secrets included (they are
/// needed to provision again); shown only through [`masked`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct StoredInputs(pub InputValues);

impl StoredInputs {
    /// As the JSON a form or an API body would give, to be validated again.
    pub fn to_json_map(&self) -> serde_json::Map<String, Value> {
        self.0.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
    }
}

/// A `pattern` as its author wrote it (it is kept wrapped to match whole values).
pub fn shown_pattern(re: &regex::Regex) -> &str {
    re.as_str().strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(re.as_str())
}

/// The start of a value sealed at rest (`sealing`): never accepted from a requester, so that
/// nobody can hand Wharf a ciphertext to open for them.
pub const SEALED_PREFIX: &str = "wharf-sealed:";

/// One value against one input's constraints.
pub fn check_value(spec: &InputSpec, v: &InputValue) -> Result<(), String> {
    match (spec.kind, v) {
        (InputType::String, InputValue::String(s)) if s.starts_with(SEALED_PREFIX) => {
            return Err(format!("must not start with `{SEALED_PREFIX}`"));
        }
        (InputType::String, InputValue::String(s)) => {
            let n = s.chars().count();
            if let Some(min) = spec.min_length
                && n < min
            {
                return Err(format!("must be at least {min} characters"));
            }
            if let Some(max) = spec.max_length
                && n > max
            {
                return Err(format!("must be at most {max} characters"));
            }
            if let Some(re) = &spec.pattern
                && !re.is_match(s)
            {
                return Err(format!("must match the pattern {}", shown_pattern(re)));
            }
        }
        (InputType::Integer, InputValue::Integer(i)) => {
            if let Some(min) = spec.min
                && *i < min
            {
                return Err(format!("must be at least {min}"));
            }
            if let Some(max) = spec.max
                && *i > max
            {
                return Err(format!("must be at most {max}"));
            }
        }
        (InputType::Boolean, InputValue::Boolean(_)) => {}
        (kind, _) => return Err(format!("must be {} {}", if kind == InputType::Integer { "an" } else { "a" }, kind.as_str())),
    }
    if let Some(choices) = &spec.choices
        && !choices.contains(v)
    {
        let list: Vec<String> = choices.iter().map(InputValue::render).collect();
        return Err(format!("must be one of {}", list.join(", ")));
    }
    Ok(())
}

/// Reads a JSON value (from an API body or a form, where everything is a string) as `kind`.
fn coerce(kind: InputType, v: &Value) -> Option<InputValue> {
    match (kind, v) {
        (InputType::String, Value::String(s)) => Some(InputValue::String(s.clone())),
        (InputType::Integer, Value::Number(n)) => n.as_i64().map(InputValue::Integer),
        (InputType::Integer, Value::String(s)) => s.trim().parse().ok().map(InputValue::Integer),
        (InputType::Boolean, Value::Bool(b)) => Some(InputValue::Boolean(*b)),
        (InputType::Boolean, Value::String(s)) => match s.as_str() {
            "true" | "on" | "1" => Some(InputValue::Boolean(true)),
            "false" | "off" | "0" | "" => Some(InputValue::Boolean(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Every input of `bp` from `given`: defaults fill gaps, `generate` makes secrets, and every
/// problem is reported by input name.
pub fn validate(bp: &Blueprint, given: &serde_json::Map<String, Value>) -> Result<InputValues, Vec<(String, String)>> {
    let mut errors = Vec::new();
    for name in given.keys() {
        if bp.input(name).is_none() {
            errors.push((name.clone(), format!("`{name}` is not an input of this blueprint")));
        }
    }
    let mut out = InputValues::new();
    for spec in &bp.inputs {
        let provided = given
            .get(&spec.name)
            .filter(|v| !v.is_null() && *v != &Value::String(String::new()) || spec.kind == InputType::Boolean && v.is_string());
        let value = match provided {
            Some(v) => match coerce(spec.kind, v) {
                Some(value) => value,
                None => {
                    errors.push((
                        spec.name.clone(),
                        format!("must be {} {}", if spec.kind == InputType::Integer { "an" } else { "a" }, spec.kind.as_str()),
                    ));
                    continue;
                }
            },
            None => match (&spec.default, spec.generate) {
                (Some(d), _) => d.clone(),
                (None, true) => InputValue::String(rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect()),
                (None, false) if spec.kind == InputType::Boolean => InputValue::Boolean(false),
                (None, false) => {
                    errors.push((spec.name.clone(), "is required".into()));
                    continue;
                }
            },
        };
        match check_value(spec, &value) {
            Ok(()) => {
                out.insert(spec.name.clone(), value);
            }
            Err(msg) => errors.push((spec.name.clone(), msg)),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// Inputs as JSON for display and for the audit log: every secret input's value masked.
pub fn masked(bp: &Blueprint, values: &InputValues) -> Value {
    let map = values
        .iter()
        .map(|(k, v)| {
            let secret = bp.input(k).is_some_and(|s| s.secret);
            (k.clone(), if secret { Value::String(crate::domain::secret::MASK.into()) } else { v.to_json() })
        })
        .collect();
    Value::Object(map)
}
