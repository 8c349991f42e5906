//! Property tests over what users type: blueprints, inputs, conditions and names. Arbitrary
//! input never panics, and every error carries a position or a field.
use proptest::prelude::*;
use serde_json::{Value, json};

use super::blueprint::{self, inputs};
use super::names::{Slug, Username};
use super::policy as cel;

/// Words a blueprint is made of, so that generated documents get past the first line.
const KEYS: [&str; 24] = [
    "id",
    "name",
    "version",
    "inputs",
    "components",
    "app",
    "db",
    "image",
    "ports",
    "command",
    "env",
    "resources",
    "memory_mb",
    "replicas",
    "depends_on",
    "health",
    "volumes",
    "user",
    "network_mode",
    "trusted",
    "outputs",
    "type",
    "enum",
    "pattern",
];
const SCALARS: [&str; 16] = [
    "busybox",
    "1",
    "0",
    "-3",
    "70000",
    "true",
    "\"${inputs.x}\"",
    "\"${inputs.missing}\"",
    "string",
    "integer",
    "[a, b]",
    "\"[a-z]+\"",
    "\"${components.app.ports.80}\"",
    "{ container: 80, host: 8080 }",
    "\"sh -c ${inputs.x}\"",
    "~",
];

/// A YAML-like document: nested maps and lists of the words above, indented as YAML wants.
fn document() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(SCALARS.to_vec()).prop_map(str::to_string);
    let node = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner.clone()), 1..6).prop_map(|entries| {
                let mut out = String::from("\n");
                for (k, v) in entries {
                    out.push_str(&format!("{k}: {}\n", indent(&v)));
                }
                out
            }),
            prop::collection::vec(inner, 1..4).prop_map(|items| {
                let mut out = String::from("\n");
                for v in items {
                    out.push_str(&format!("- {}\n", indent(&v)));
                }
                out
            }),
        ]
    });
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), node), 1..8).prop_map(|entries| {
        let mut out = String::new();
        for (k, v) in entries {
            out.push_str(&format!("{k}: {}\n", indent(&v)));
        }
        out
    })
}

fn indent(v: &str) -> String {
    v.replace('\n', "\n  ").trim_end().to_string()
}

/// A JSON value of any shape, for input forms and API bodies.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const TYPED: &str = r#"id: typed
name: Typed
version: 1
inputs:
  size: { type: integer, min: 1, max: 64, default: 8 }
  tier: { type: string, enum: [small, large], default: small }
  word: { type: string, pattern: "[a-z]{1,12}", default: abc }
  note: { type: string, max_length: 20, default: "" }
  flag: { type: boolean, default: false }
  pass: { type: string, secret: true, generate: true }
components:
  app:
    image: busybox
    command: ["sh", "-c", "echo ${inputs.word} ${inputs.size}"]
    env: { NOTE: "${inputs.note}", TIER: "${inputs.tier}", FLAG: "${inputs.flag}" }
"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_as_a_blueprint_is_parsed_or_refused_with_a_place(src in ".{0,400}") {
        if let Err(errors) = blueprint::parse(&src) {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e:?}");
            }
        }
    }

    #[test]
    fn blueprint_shaped_documents_are_parsed_or_refused_with_a_place(src in document()) {
        match blueprint::parse(&src) {
            Ok(bp) => {
                // What parses also resolves, or says where it does not.
                let values = inputs::validate(&bp, &serde_json::Map::new()).unwrap_or_default();
                let dep = blueprint::resolve::DeploymentRef { id: "d".into(), name: "d".into() };
                if let Err(errors) = blueprint::resolve::resolve(&bp, &values, &dep) {
                    for e in errors {
                        prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e:?}");
                    }
                }
            }
            Err(errors) => {
                for e in errors {
                    prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e:?}");
                }
            }
        }
    }

    #[test]
    fn any_input_form_is_validated_or_refused_by_field(given in prop::collection::btree_map(
        prop::sample::select(vec!["size", "tier", "word", "note", "flag", "pass", "other"]), json_value(), 0..7)) {
        let bp = blueprint::parse(TYPED).expect("the typed blueprint");
        let given: serde_json::Map<String, Value> = given.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        match inputs::validate(&bp, &given) {
            Ok(values) => {
                // Every value kept passes its input's rules, and a pattern matches it whole.
                for (k, v) in &values {
                    let spec = bp.input(k).expect("a declared input");
                    prop_assert!(inputs::check_value(spec, v).is_ok(), "{k}: {v:?}");
                }
            }
            Err(errors) => {
                for (field, message) in errors {
                    prop_assert!(!field.is_empty() && !message.is_empty());
                }
            }
        }
    }

    #[test]
    fn any_condition_compiles_or_says_where(src in ".{0,200}") {
        if let Err(e) = cel::check_condition(&src) {
            prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e:?}");
        }
        let ctx = json!({"request": {"inputs": {"size": 8}, "lease_days": 3, "group": "g"}, "requester": {"username": "u"}, "item": {"id": "i"}});
        let _ = cel::evaluate(&src, &ctx);
    }

    #[test]
    fn condition_shaped_text_compiles_or_says_where(parts in prop::collection::vec(prop::sample::select(vec![
        "request", ".", "inputs", "size", ">", "<", "==", "&&", "||", "!", "(", ")", "[", "]", "'a'", "1", "2.5", "true",
        "requester", "username", "item", "id", "in", "size(", ",", "map(", "x", "?", ":", "+", "-"]), 0..40)) {
        let src = parts.join(" ");
        if let Err(e) = cel::check_condition(&src) {
            prop_assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e:?}");
        }
        let ctx = json!({"request": {"inputs": {"size": 8}}, "requester": {"username": "u"}, "item": {"id": "i"}});
        let _ = cel::evaluate(&src, &ctx);
    }

    #[test]
    fn names_are_parsed_or_refused_and_what_parses_keeps_the_rules(raw in ".{0,80}") {
        if let Ok(u) = Username::parse(&raw) {
            let s = u.to_string();
            prop_assert!((1..=64).contains(&s.len()));
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')));
        }
        if let Ok(s) = Slug::parse(&raw) {
            let s = s.to_string();
            prop_assert!((Slug::MIN..=Slug::MAX).contains(&s.len()) && !s.starts_with('-') && !s.ends_with('-'));
        }
    }
}
