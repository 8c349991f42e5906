//! The guardrails: what only a blueprint marked `trusted: true` (by an admin) may ask for.
//! One table, checked on the spec resolved with the inputs (so an input cannot slip a
//! privilege past it) and, for blueprints whose inputs cannot all be resolved at import, on
//! the literal values.
use super::BlueprintError;
use super::types::{Component, VolumeSpec};
use super::yaml::Pos;

/// Something a component asks for that reaches past its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privilege {
    Privileged,
    Capability(String),
    Device(String),
    HostMount,
    HostNetwork,
}

impl Privilege {
    fn what(&self) -> String {
        match self {
            Privilege::Privileged => "privileged mode".to_string(),
            Privilege::Capability(cap) => format!("adding the capability {cap}"),
            Privilege::Device(dev) => format!("the device {dev}"),
            Privilege::HostMount => "a host path mount".to_string(),
            Privilege::HostNetwork => "host networking".to_string(),
        }
    }
}

/// Every privilege a component asks for, with where. `network_mode` is its network mode's
/// value (rendered, or literal), when known.
pub fn requested(c: &Component, network_mode: Option<&str>) -> Vec<(Pos, Privilege)> {
    let mut out = Vec::new();
    if c.privileged.0 {
        out.push((c.privileged.1, Privilege::Privileged));
    }
    out.extend(c.cap_add.iter().map(|(cap, pos)| (*pos, Privilege::Capability(cap.clone()))));
    out.extend(c.devices.iter().map(|(dev, pos)| (*pos, Privilege::Device(dev.clone()))));
    for v in &c.volumes {
        if let VolumeSpec::Bind { pos, .. } = v {
            out.push((*pos, Privilege::HostMount));
        }
    }
    if let (Some(t), Some("host")) = (&c.network_mode, network_mode) {
        out.push((t.pos, Privilege::HostNetwork));
    }
    out
}

/// The refusals for a component of an untrusted blueprint; none for a trusted one.
pub fn check(trusted: bool, c: &Component, network_mode: Option<&str>) -> Vec<BlueprintError> {
    if trusted {
        return Vec::new();
    }
    requested(c, network_mode)
        .into_iter()
        .map(|(pos, p)| {
            BlueprintError::at(
                pos,
                format!("component `{}`: {} is not allowed unless the blueprint is marked `trusted: true` by an admin", c.name, p.what()),
            )
        })
        .collect()
}
