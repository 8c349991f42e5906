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

/// Compiles a condition, to refuse one that does not parse when the policy is saved.
pub fn check_condition(source: &str) -> Result<(), ConditionError> {
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

/// Evaluates a condition over the request's context (`request`, `requester`, `item`).
/// Anything but `true` or `false` is an error that says what came out.
pub fn evaluate(source: &str, context: &Value) -> Result<bool, String> {
    let program = cel::Program::compile(source).map_err(|e| format!("the condition does not parse: {e}"))?;
    let mut ctx = cel::Context::default();
    for name in ["request", "requester", "item"] {
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
    }
}
