//! Fail points for the fault-injection suite: named places in the engine where a test can
//! make the process die (`kill`: SIGKILL of itself), freeze (`stop`: SIGSTOP of itself, until
//! the test sends SIGCONT), pause one task (`sleep:MS`), panic, or fail the step (`error`). Compiled in only with the `failpoints` feature (the test build); set with
//! `WHARF_TEST_FAILPOINTS="provision.after_network=kill;destroy.before_forget=sleep:8000"`.
//! Without the feature `failpoint!` expands to nothing.

/// What a fail point does when it is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Kill,
    /// SIGSTOP of itself: the whole process pauses (heartbeat included) until a SIGCONT.
    Stop,
    Sleep(u64),
    Panic,
    Error,
}

/// Parses `name=action;name=action`.
pub fn parse(spec: &str) -> Result<Vec<(String, Action)>, String> {
    let mut out = Vec::new();
    for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, action) = part.split_once('=').ok_or_else(|| format!("`{part}`: expected NAME=ACTION"))?;
        let action = match action.trim() {
            "kill" => Action::Kill,
            "stop" => Action::Stop,
            "panic" => Action::Panic,
            "error" => Action::Error,
            a => match a.strip_prefix("sleep:").map(str::parse) {
                Some(Ok(ms)) => Action::Sleep(ms),
                _ => return Err(format!("`{a}`: use kill, stop, panic, error or sleep:MS")),
            },
        };
        out.push((name.trim().to_string(), action));
    }
    Ok(out)
}

#[cfg(feature = "failpoints")]
mod active {
    use std::sync::LazyLock;

    use super::{Action, parse};

    static POINTS: LazyLock<Vec<(String, Action)>> = LazyLock::new(|| match std::env::var("WHARF_TEST_FAILPOINTS") {
        Ok(spec) => parse(&spec).unwrap_or_else(|e| {
            eprintln!("WHARF_TEST_FAILPOINTS: {e}");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    });

    /// Does what the fail point `name` is set to; `Some(message)` when the step must fail.
    pub async fn hit(name: &str) -> Option<String> {
        let action = POINTS.iter().find(|(n, _)| n == name).map(|(_, a)| a.clone())?;
        eprintln!("failpoint {name}: {action:?}");
        tracing::warn!(failpoint = name, ?action, "fail point reached");
        match action {
            Action::Kill => {
                let pid = std::process::id().to_string();
                let _ = std::process::Command::new("kill").args(["-9", &pid]).status();
                // SIGKILL is on its way; nothing after this point runs.
                std::future::pending::<()>().await;
                None
            }
            Action::Stop => {
                let pid = std::process::id().to_string();
                let _ = std::process::Command::new("kill").args(["-STOP", &pid]).status();
                None
            }
            Action::Sleep(ms) => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                None
            }
            Action::Panic => panic!("fail point {name}"),
            Action::Error => Some(format!("fail point {name}")),
        }
    }
}

#[cfg(feature = "failpoints")]
pub use active::hit;

/// Marks a fail point. In a function returning `Result<_, E>` where `E: From<String>`-like
/// conversion is given as the second argument, `error` fails the step with it.
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        {
            let _ = $crate::failpoint::hit($name).await;
        }
    };
    ($name:literal, $err:expr) => {
        #[cfg(feature = "failpoints")]
        {
            if let Some(message) = $crate::failpoint::hit($name).await {
                return Err($err(message));
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse("a=kill; b=sleep:250;c=error").unwrap(),
            vec![("a".into(), Action::Kill), ("b".into(), Action::Sleep(250)), ("c".into(), Action::Error)]
        );
        assert!(parse("a").unwrap_err().contains("NAME=ACTION"));
        assert!(parse("a=sleep:x").unwrap_err().contains("sleep:MS"));
    }
}
