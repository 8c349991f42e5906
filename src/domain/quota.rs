//! Quota arithmetic: what a group uses (running, in flight and pending), what a request needs.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Amount {
    pub containers: i64,
    pub memory_mb: i64,
    pub cpus: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limits {
    pub max_containers: Option<i64>,
    pub max_memory_mb: Option<i64>,
    pub max_cpus: Option<f64>,
}

/// `Err` names every limit that `used + need` would pass, with the numbers.
pub fn check(used: Amount, need: Amount, limits: Limits) -> Result<(), Vec<String>> {
    let mut over = Vec::new();
    if let Some(max) = limits.max_containers
        && used.containers + need.containers > max
    {
        over.push(format!("containers: {} in use + {} requested > {max} allowed", used.containers, need.containers));
    }
    if let Some(max) = limits.max_memory_mb
        && used.memory_mb + need.memory_mb > max
    {
        over.push(format!("memory: {} MB in use + {} MB requested > {max} MB allowed", used.memory_mb, need.memory_mb));
    }
    if let Some(max) = limits.max_cpus
        && used.cpus + need.cpus > max + 1e-9
    {
        over.push(format!("CPUs: {} in use + {} requested > {max} allowed", used.cpus, need.cpus));
    }
    if over.is_empty() { Ok(()) } else { Err(over) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_with_numbers() {
        let limits = Limits { max_containers: Some(10), max_memory_mb: Some(1024), max_cpus: None };
        let used = Amount { containers: 9, memory_mb: 512, cpus: 3.0 };
        assert!(check(used, Amount { containers: 1, memory_mb: 512, cpus: 9.0 }, limits).is_ok());
        let err = check(used, Amount { containers: 2, memory_mb: 600, cpus: 0.0 }, limits).unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err[0].contains("9 in use + 2 requested > 10"), "{err:?}");
    }
}
