//! Conditions in CEL over a request's context: compiled when a policy is saved, evaluated
//! when a request is submitted.
use serde::Serialize;
use serde_json::Value;

/// A CEL condition that did not compile, with where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The longest condition, and the deepest nesting, a policy may have.
pub const MAX_LEN: usize = 1000;
const MAX_DEPTH: usize = 32;

/// What bounds a condition's size and cost: its length, its nesting, and no loops (the
/// comprehension macros), so that evaluating one is linear in its length over the small,
/// fixed context of a request.
fn bounded(source: &str) -> Result<(), ConditionError> {
    let at = |offset: usize, message: String| {
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConditionError { line, column, message }
    };
    if source.len() > MAX_LEN {
        return Err(at(0, format!("a condition is at most {MAX_LEN} characters (this one has {})", source.len())));
    }
    let mut depth = 0usize;
    for (i, c) in source.char_indices() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(at(i, format!("a condition nests at most {MAX_DEPTH} levels deep")));
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    static LOOP: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\.\s*(map|filter|all|exists_one|exists)\s*\(").expect("a valid expression"));
    if let Some(m) = LOOP.find(source) {
        return Err(at(m.start() + 1, "loops (map, filter, all, exists) are not allowed in a condition".into()));
    }
    Ok(())
}

/// Compiles a condition, to refuse one that does not parse (or is too big) when the policy is saved.
pub fn check_condition(source: &str) -> Result<(), ConditionError> {
    bounded(source)?;
    match cel::Program::compile(source) {
        Ok(_) => Ok(()),
        Err(errs) => {
            let first = errs.errors.first();
            Err(ConditionError {
                line: first.map(|e| e.pos.0.max(1) as usize).unwrap_or(1),
                column: first.map(|e| e.pos.1.max(1) as usize).unwrap_or(1),
                message: first.map(|e| e.msg.clone()).unwrap_or_else(|| errs.to_string()),
            })
        }
    }
}

/// Evaluates a condition over the request's context (`request`, `requester`, `item`, `action`,
/// `deployment`).
/// Anything but `true` or `false` is an error that says what came out.
pub fn evaluate(source: &str, context: &Value) -> Result<bool, String> {
    bounded(source).map_err(|e| format!("the condition is refused: {}", e.message))?;
    let program = cel::Program::compile(source).map_err(|e| format!("the condition does not parse: {e}"))?;
    let mut ctx = cel::Context::default();
    for name in ["request", "requester", "item", "action", "deployment"] {
        let v = context.get(name).cloned().unwrap_or(Value::Null);
        let v = cel::to_value(v).map_err(|e| format!("cannot pass `{name}` to the condition: {e}"))?;
        ctx.add_variable_from_value(name, v);
    }
    match program.execute(&ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("the condition gave {other:?}, not true or false")),
        Err(e) => Err(format!("the condition failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conditions_compile_evaluate_and_say_where_they_are_wrong() {
        let ctx = json!({"request": {"inputs": {"memory_mb": 1024}, "lease_days": 3, "group": "team-a"}, "requester": {"username": "dev"}, "item": {"id": "web"}});
        assert_eq!(evaluate("request.inputs.memory_mb > 512", &ctx), Ok(true));
        assert_eq!(evaluate("request.lease_days > 14 || item.id == 'db'", &ctx), Ok(false));
        assert!(evaluate("request.inputs.memory_mb", &ctx).unwrap_err().contains("not true or false"));
        let err = check_condition("request.inputs.memory_mb >").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.column > 1, "{err:?}");
        assert!(check_condition("requester.username == 'dev'").is_ok());
        // Bounded: size, nesting, no loops.
        assert!(check_condition(&format!("{} == 1", "1 + ".repeat(300))).unwrap_err().message.contains("at most"));
        assert!(check_condition(&format!("{}1{}", "(".repeat(40), ")".repeat(40))).unwrap_err().message.contains("nests"));
        let e = check_condition("[1, 2].map(x, x * 2).size() > 1").unwrap_err();
        assert!(e.message.contains("loops") && e.column == 8, "{e:?}");
        assert!(evaluate("[1].exists(x, x == 1)", &ctx).unwrap_err().contains("loops"));
    }
}
