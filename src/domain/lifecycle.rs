//! Rules of a deployment's life after day 1: lease arithmetic (extension within the cap,
//! warnings, grace) and which input scales a component. Pure functions; the lease loop and the
//! day-2 service apply them.
use chrono::{DateTime, Duration, Utc};

use super::blueprint::template::{Ref, Seg};
use super::blueprint::types::IntField;
use super::blueprint::{Blueprint, InputSpec, InputType};

/// A lease extended by `days` from its end (or from now, when it already ended): the new end,
/// or why not (past the cap, said with its date).
pub fn extended(
    expires_at: Option<DateTime<Utc>>,
    days: i64,
    cap: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    if !(1..=3650).contains(&days) {
        return Err("days must be 1 to 3650".into());
    }
    let from = expires_at.map_or(now, |e| e.max(now));
    let to = from.checked_add_signed(Duration::days(days)).ok_or_else(|| "that date is out of range".to_string())?;
    match cap {
        Some(cap) if to > cap => Err(format!(
            "the lease cannot end after {} (the item's longest lease); {} days would take it to {}",
            cap.format("%Y-%m-%d %H:%M UTC"),
            days,
            to.format("%Y-%m-%d %H:%M UTC")
        )),
        _ => Ok(to),
    }
}

/// The warnings due at `now` for a lease ending at `expires_at`: each offset (days before the
/// end) that has been reached, with the key that makes it happen once for this end.
pub fn warnings_due(expires_at: DateTime<Utc>, warn_days: &[u32], now: DateTime<Utc>) -> Vec<(u32, String)> {
    warn_days
        .iter()
        .filter(|d| now >= expires_at - Duration::days(i64::from(**d)) && now < expires_at)
        .map(|d| (*d, format!("warn:{d}:{}", expires_at.timestamp())))
        .collect()
}

/// When a deployment whose lease ended at `expires_at` is destroyed.
pub fn grace_ends(expires_at: DateTime<Utc>, grace_days: Option<i32>) -> DateTime<Utc> {
    expires_at.checked_add_signed(Duration::days(i64::from(grace_days.unwrap_or(0).max(0)))).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The furthest a lease may be set, either way, from now (an admin's `PUT .../lease`).
pub const LEASE_SET_LIMIT_DAYS: i64 = 3650;

/// The integer input a component's `replicas` comes from, which scaling changes; `Err` says
/// why the component cannot scale (a fixed count, a fixed host port, no such component).
pub fn scaling_input<'b>(bp: &'b Blueprint, component: &str) -> Result<&'b InputSpec, String> {
    let c = bp.component(component).ok_or_else(|| format!("the blueprint has no component `{component}`"))?;
    let name = match &c.replicas {
        IntField::Tmpl(t) => match t.segs.as_slice() {
            [Seg::Ref(Ref::Input(name))] => name,
            _ => return Err(format!("`{component}` cannot scale: its replicas are not a single input")),
        },
        IntField::Literal(..) => return Err(format!("`{component}` cannot scale: its replica count is fixed by the blueprint")),
    };
    if c.ports.iter().any(|p| p.host.is_some()) {
        return Err(format!("`{component}` cannot scale: it publishes a fixed host port, which only one replica can hold"));
    }
    let input = bp.input(name).ok_or_else(|| format!("`{component}` cannot scale: no input `{name}`"))?;
    if input.kind != InputType::Integer {
        return Err(format!("`{component}` cannot scale: its input `{name}` is not an integer"));
    }
    // The input would scale every component it drives.
    let others: Vec<&str> = bp
        .components
        .iter()
        .filter(|o| o.name != c.name)
        .filter(|o| matches!(&o.replicas, IntField::Tmpl(t) if t.refs().any(|r| *r == Ref::Input(name.clone()))))
        .map(|o| o.name.as_str())
        .collect();
    if !others.is_empty() {
        return Err(format!("`{component}` cannot scale alone: its input `{name}` also sets the replicas of {}", others.join(", ")));
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn leases_extend_within_their_cap() {
        let now = at("2026-01-10T00:00:00Z");
        let end = at("2026-01-12T00:00:00Z");
        let cap = at("2026-01-20T00:00:00Z");
        assert_eq!(extended(Some(end), 3, Some(cap), now), Ok(at("2026-01-15T00:00:00Z")));
        let err = extended(Some(end), 30, Some(cap), now).unwrap_err();
        assert!(err.contains("2026-01-20 00:00 UTC"), "{err}");
        // An ended lease extends from now.
        assert_eq!(extended(Some(at("2026-01-01T00:00:00Z")), 1, None, now), Ok(at("2026-01-11T00:00:00Z")));
        assert!(extended(Some(end), 0, None, now).is_err());
    }

    #[test]
    fn warnings_come_once_per_offset_and_end() {
        let end = at("2026-01-10T00:00:00Z");
        assert!(warnings_due(end, &[3, 1], at("2026-01-06T00:00:00Z")).is_empty());
        let due = warnings_due(end, &[3, 1], at("2026-01-08T00:00:00Z"));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, 3);
        assert_eq!(warnings_due(end, &[3, 1], at("2026-01-09T12:00:00Z")).len(), 2);
        assert!(warnings_due(end, &[3, 1], end).is_empty(), "ended: no more warnings");
        let later = warnings_due(at("2026-01-20T00:00:00Z"), &[3], at("2026-01-18T00:00:00Z"));
        assert_ne!(later[0].1, due[0].1, "an extended lease warns again");
    }

    #[test]
    fn only_components_whose_replicas_are_an_integer_input_scale() {
        let src = r#"
id: scaler
name: Scaler
version: 1
inputs:
  n: { type: integer, default: 1, min: 1, max: 5 }
  m: { type: integer, default: 1, min: 1, max: 5 }
components:
  web:
    image: nginx:1
    replicas: "${inputs.n}"
  db:
    image: postgres:16
  edge:
    image: nginx:1
    replicas: "${inputs.m}"
    ports: [{ container: 80, host: 8080 }]
"#;
        let bp = crate::domain::blueprint::parse(src).unwrap();
        assert_eq!(scaling_input(&bp, "web").unwrap().name, "n");
        assert!(scaling_input(&bp, "db").unwrap_err().contains("fixed"));
        assert!(scaling_input(&bp, "edge").unwrap_err().contains("host port"));
        assert!(scaling_input(&bp, "nope").unwrap_err().contains("no component"));
        let shared = src.replace("  db:\n    image: postgres:16\n", "  db:\n    image: postgres:16\n    replicas: \"${inputs.n}\"\n");
        let bp = crate::domain::blueprint::parse(&shared).unwrap();
        assert!(scaling_input(&bp, "web").unwrap_err().contains("also sets the replicas of db"));
    }
}
