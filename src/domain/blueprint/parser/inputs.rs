//! The `inputs:` section: typed inputs with their constraints and defaults.
use super::*;

pub(super) fn parse_inputs(p: &mut P, node: &Node) -> Vec<InputSpec> {
    if node.is_null() {
        return Vec::new();
    }
    let Some(entries) = p.map(node, "inputs") else { return Vec::new() };
    let mut out = Vec::new();
    for (key, spec) in entries {
        if let Err(e) = InputKey::parse(&key.name) {
            p.err(key.pos, format!("input name {e}"));
            continue;
        }
        if let Some(i) = parse_input(p, key, spec) {
            out.push(i);
        }
    }
    out
}

fn parse_input(p: &mut P, key: &Key, node: &Node) -> Option<InputSpec> {
    let what = format!("input `{}`", key.name);
    let entries = p.map(node, &what)?;
    p.known(entries, INPUT, &what);
    let kind = match get(entries, "type") {
        None => {
            p.err(node.pos(), format!("{what} needs a `type`: string, integer or boolean"));
            return None;
        }
        Some(t) => match p.scalar(t, "type")?.as_str() {
            "string" => InputType::String,
            "integer" => InputType::Integer,
            "boolean" => InputType::Boolean,
            other => {
                p.err(t.text_pos(), format!("{what}: `{other}` is not a type; use string, integer or boolean"));
                return None;
            }
        },
    };
    let title = get(entries, "title").and_then(|n| p.text(n, "title", 100)).unwrap_or_else(|| key.name.clone());
    let description = get(entries, "description").and_then(|n| p.text(n, "description", 500)).unwrap_or_default();
    let only = |p: &mut P, field: &str, allowed: bool, why: &str| {
        if let Some(n) = get(entries, field)
            && !allowed
        {
            p.err(n.pos(), format!("{what}: `{field}` {why}"));
        }
    };
    only(p, "min", kind == InputType::Integer, "applies to integer inputs only");
    only(p, "max", kind == InputType::Integer, "applies to integer inputs only");
    only(p, "min_length", kind == InputType::String, "applies to string inputs only");
    only(p, "max_length", kind == InputType::String, "applies to string inputs only");
    only(p, "pattern", kind == InputType::String, "applies to string inputs only");
    only(p, "secret", kind == InputType::String, "applies to string inputs only");
    let min = if kind == InputType::Integer { get(entries, "min").and_then(|n| p.int(n, "min")) } else { None };
    let max = if kind == InputType::Integer { get(entries, "max").and_then(|n| p.int(n, "max")) } else { None };
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        p.err(node.pos(), format!("{what}: min {lo} is above max {hi}"));
    }
    let len = |p: &mut P, f: &str| {
        if kind != InputType::String {
            return None;
        }
        get(entries, f).and_then(|n| p.uint(n, f, 0, 100_000)).map(|n| n as usize)
    };
    let min_length = len(p, "min_length");
    let max_length = len(p, "max_length");
    let pattern = if kind == InputType::String {
        get(entries, "pattern").and_then(|n| {
            let s = p.scalar(n, "pattern")?;
            // Matched against the whole value: `[a-z]+` must not accept `x; rm -rf /`.
            match Regex::new(&format!("^(?:{s})$")) {
                Ok(r) => Some(r),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
                    p.err(n.text_pos(), format!("{what}: pattern is not a valid regular expression: {why}"));
                    None
                }
            }
        })
    } else {
        None
    };
    let secret = get(entries, "secret").and_then(|n| p.boolean(n, "secret")).unwrap_or(false);
    let generate = get(entries, "generate").and_then(|n| p.boolean(n, "generate")).unwrap_or(false);
    if generate && !secret {
        p.err(get(entries, "generate").map(Node::pos).unwrap_or(node.pos()), format!("{what}: `generate` needs `secret: true`"));
    }
    let value_of = |p: &mut P, n: &Node, field: &str| -> Option<InputValue> {
        match kind {
            InputType::String => p.scalar(n, field).map(InputValue::String),
            InputType::Integer => p.int(n, field).map(InputValue::Integer),
            InputType::Boolean => p.boolean(n, field).map(InputValue::Boolean),
        }
    };
    let choices = get(entries, "enum").and_then(|n| {
        let items = p.seq(n, "enum")?;
        if items.is_empty() {
            p.err(n.pos(), format!("{what}: enum must list at least one value"));
            return None;
        }
        let mut out = Vec::new();
        for item in items {
            out.push(value_of(p, item, "an enum value")?);
        }
        Some(out)
    });
    if kind == InputType::Boolean && choices.is_some() {
        p.err(node.pos(), format!("{what}: a boolean input takes no enum"));
    }
    let spec = InputSpec {
        name: key.name.clone(),
        kind,
        title,
        description,
        default: None,
        min,
        max,
        min_length,
        max_length,
        pattern,
        choices,
        secret,
        generate,
        pos: key.pos,
    };
    let default = get(entries, "default").and_then(|n| {
        let v = value_of(p, n, "default")?;
        if let Err(msg) = crate::domain::blueprint::inputs::check_value(&spec, &v) {
            p.err(n.text_pos(), format!("{what}: the default does not fit: {msg}"));
            return None;
        }
        Some(v)
    });
    if secret && default.is_some() {
        p.err(node.pos(), format!("{what}: a secret input takes no default (use `generate: true` for a random one)"));
    }
    Some(InputSpec { default, ..spec })
}
