//! Choosing a host for a deployment: a pure function, so its rules are easy to test.
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub name: String,
    pub up: bool,
    pub labels: BTreeMap<String, String>,
    pub max_containers: Option<i64>,
    /// Containers Wharf runs there now.
    pub containers: i64,
    /// Live deployments placed there (including those still being provisioned).
    pub deployments: i64,
}

/// A healthy host that carries every label of `selector` and has room for `needed` more
/// containers; the least loaded first (fewest deployments, then fewest containers).
/// The error says why each host was passed over.
pub fn choose(candidates: &[Candidate], selector: &BTreeMap<String, String>, needed: i64) -> Result<i64, String> {
    let mut reasons = Vec::new();
    let mut fitting: Vec<&Candidate> = Vec::new();
    for c in candidates {
        if !c.up {
            reasons.push(format!("{} is not up", c.name));
        } else if let Some((k, v)) = selector.iter().find(|(k, v)| c.labels.get(*k) != Some(*v)) {
            reasons.push(format!("{} lacks the label {k}={v}", c.name));
        } else if c.max_containers.is_some_and(|m| c.containers + needed > m) {
            reasons.push(format!(
                "{} is full ({} of {} containers, {needed} more needed)",
                c.name,
                c.containers,
                c.max_containers.unwrap_or(0)
            ));
        } else {
            fitting.push(c);
        }
    }
    fitting.into_iter().min_by_key(|c| (c.deployments, c.containers, c.name.clone())).map(|c| c.id).ok_or_else(|| {
        if candidates.is_empty() {
            "no Docker host is registered".to_string()
        } else {
            format!("no host can take this deployment: {}", reasons.join("; "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: i64, up: bool, labels: &[(&str, &str)], max: Option<i64>, containers: i64, deployments: i64) -> Candidate {
        Candidate {
            id,
            name: format!("h{id}"),
            up,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            max_containers: max,
            containers,
            deployments,
        }
    }

    #[test]
    fn least_loaded_matching_host_with_room() {
        let hosts = [
            host(1, true, &[("zone", "a")], None, 5, 3),
            host(2, true, &[("zone", "a")], None, 9, 1),
            host(3, true, &[("zone", "b")], None, 0, 0),
            host(4, false, &[("zone", "a")], None, 0, 0),
            host(5, true, &[("zone", "a")], Some(10), 9, 0),
        ];
        let sel = BTreeMap::from([("zone".to_string(), "a".to_string())]);
        assert_eq!(choose(&hosts, &sel, 2), Ok(2));
        assert_eq!(choose(&hosts, &BTreeMap::new(), 1), Ok(3));
        let err = choose(&hosts[3..], &sel, 2).unwrap_err();
        assert!(err.contains("h4 is not up") && err.contains("h5 is full"), "{err}");
        assert_eq!(choose(&[], &sel, 1).unwrap_err(), "no Docker host is registered");
    }
}
