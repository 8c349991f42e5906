//! From a blueprint and validated inputs to the concrete spec of each container. Guardrails
//! are checked here, on the resolved values, so that no input can smuggle in what the
//! blueprint itself could not say.
use std::collections::{BTreeMap, HashSet};

use super::guardrails;
use super::inputs::InputValues;
use super::template::{Ref, Tmpl};
use super::types::{Blueprint, FloatField, IntField, Protocol, RestartPolicy, VolumeSpec};
use super::yaml::Pos;
use super::{BlueprintError, ImageRef};

pub const MAX_REPLICAS: i64 = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedPort {
    pub container: u16,
    pub host: Option<u16>,
    /// The host port came from an input (a requester chose it): it must fall in the host's
    /// range for input ports.
    pub host_from_input: bool,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedVolume {
    Named { name: String, target: String, read_only: bool },
    Bind { source: String, target: String, read_only: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedHealth {
    pub cmd: Vec<String>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedComponent {
    pub name: String,
    pub image: ImageRef,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub ports: Vec<ResolvedPort>,
    pub volumes: Vec<ResolvedVolume>,
    pub memory_mb: Option<i64>,
    pub cpus: Option<f64>,
    pub replicas: u32,
    pub depends_on: Vec<String>,
    pub tty: bool,
    pub stdin_open: bool,
    pub restart: RestartPolicy,
    pub health: Option<ResolvedHealth>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub devices: Vec<String>,
    pub host_network: bool,
    /// Set by [`apply_defaults`]: the process limit, and the capabilities kept besides `cap_add`.
    pub pids: Option<i64>,
    pub keep_caps: Vec<String>,
}

/// What a component gets when its blueprint does not say (`limits.*` in the configuration):
/// applied to the spec that quotas count and that runs, so both see the same numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub memory_mb: i64,
    pub cpus: f64,
    pub pids: i64,
    /// Capabilities every container keeps (all others are dropped); a trusted blueprint adds
    /// more with `cap_add`.
    pub capabilities: Vec<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            memory_mb: 512,
            cpus: 1.0,
            pids: 512,
            capabilities: ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// Fills what the blueprint left unlimited: memory, CPUs, processes; and the capabilities kept.
pub fn apply_defaults(spec: &mut [ResolvedComponent], d: &Defaults) {
    for c in spec {
        c.memory_mb.get_or_insert(d.memory_mb);
        c.cpus.get_or_insert(d.cpus);
        c.pids.get_or_insert(d.pids);
        c.keep_caps = d.capabilities.clone();
    }
}

/// The deployment a spec is resolved for.
#[derive(Debug, Clone)]
pub struct DeploymentRef {
    pub id: String,
    pub name: String,
}

/// Components in start order, every value concrete and checked.
pub fn resolve(bp: &Blueprint, inputs: &InputValues, dep: &DeploymentRef) -> Result<Vec<ResolvedComponent>, Vec<BlueprintError>> {
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let render = |t: &Tmpl| -> Result<String, BlueprintError> {
        t.render(|r| match r {
            Ref::Input(n) => {
                inputs.get(n).map(|v| v.render()).ok_or_else(|| BlueprintError::at(t.pos, format!("input `{n}` has no value")))
            }
            Ref::DeploymentId => Ok(dep.id.clone()),
            Ref::DeploymentName => Ok(dep.name.clone()),
            other => Err(BlueprintError::at(t.pos, format!("`${{{other}}}` can only be used in outputs"))),
        })
    };
    let int = |f: &IntField, what: &str, min: i64, max: i64| -> Result<i64, BlueprintError> {
        let (n, pos) = match f {
            IntField::Literal(n, pos) => (*n, *pos),
            IntField::Tmpl(t) => {
                let s = render(t)?;
                let n = s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| BlueprintError::at(t.pos, format!("{what} must be a whole number, and `{s}` is not")))?;
                (n, t.pos)
            }
        };
        if n < min || n > max {
            return Err(BlueprintError::at(pos, format!("{what} must be between {min} and {max}, not {n}")));
        }
        Ok(n)
    };
    let mut host_ports = HashSet::new();
    for c in bp.start_order() {
        // The guardrails, on the network mode as the inputs make it.
        let network_mode = match c.network_mode.as_ref().map(&render).transpose() {
            Ok(mode) => mode,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        errs.extend(guardrails::check(bp.trusted, c, network_mode.as_deref()));
        let mut one = || -> Result<ResolvedComponent, BlueprintError> {
            let image_s = render(&c.image)?;
            let image = ImageRef::parse(&image_s).map_err(|e| BlueprintError::at(c.image.pos, e))?;
            let list = |l: &Option<Vec<Tmpl>>| -> Result<Option<Vec<String>>, BlueprintError> {
                l.as_ref().map(|v| v.iter().map(&render).collect()).transpose()
            };
            let command = list(&c.command)?;
            let entrypoint = list(&c.entrypoint)?;
            let env = c.env.iter().map(|(k, t)| Ok((k.clone(), render(t)?))).collect::<Result<Vec<_>, BlueprintError>>()?;
            let mut ports = Vec::new();
            let mut seen = HashSet::new();
            for p in &c.ports {
                let container = int(&p.container, "container port", 1, 65535)? as u16;
                if !seen.insert((container, p.protocol)) {
                    return Err(BlueprintError::at(p.pos, format!("container port {container}/{} is listed twice", p.protocol.as_str())));
                }
                let host = p.host.as_ref().map(|h| int(h, "host port", 1, 65535)).transpose()?.map(|h| h as u16);
                if let Some(h) = host
                    && !host_ports.insert((h, p.protocol))
                {
                    return Err(BlueprintError::at(
                        p.pos,
                        format!("host port {h}/{} is used twice in this blueprint", p.protocol.as_str()),
                    ));
                }
                let host_from_input = matches!(p.host, Some(super::types::IntField::Tmpl(_)));
                ports.push(ResolvedPort { container, host, host_from_input, protocol: p.protocol });
            }
            let mut volumes = Vec::new();
            for v in &c.volumes {
                volumes.push(match v {
                    VolumeSpec::Named { name, target, read_only, .. } => {
                        ResolvedVolume::Named { name: name.clone(), target: abs(render(target)?, target.pos)?, read_only: *read_only }
                    }
                    VolumeSpec::Bind { source, target, read_only, .. } => ResolvedVolume::Bind {
                        source: abs(render(source)?, source.pos)?,
                        target: abs(render(target)?, target.pos)?,
                        read_only: *read_only,
                    },
                });
            }
            let memory_mb = c.memory_mb.as_ref().map(|m| int(m, "memory_mb", 6, 1_048_576)).transpose()?;
            let cpus = match &c.cpus {
                None => None,
                Some(FloatField::Literal(f, pos)) => Some(cpu_range(*f, *pos)?),
                Some(FloatField::Tmpl(t)) => {
                    let s = render(t)?;
                    let f = s
                        .trim()
                        .parse::<f64>()
                        .map_err(|_| BlueprintError::at(t.pos, format!("cpus must be a number, and `{s}` is not")))?;
                    Some(cpu_range(f, t.pos)?)
                }
            };
            let replicas = int(&c.replicas, "replicas", 1, MAX_REPLICAS)? as u32;
            let health = c
                .health
                .as_ref()
                .map(|h| -> Result<ResolvedHealth, BlueprintError> {
                    Ok(ResolvedHealth {
                        cmd: h.cmd.iter().map(&render).collect::<Result<_, _>>()?,
                        interval_s: h.interval_s,
                        timeout_s: h.timeout_s,
                        retries: h.retries,
                        start_period_s: h.start_period_s,
                    })
                })
                .transpose()?;
            let host_network = match (&c.network_mode, network_mode.as_deref()) {
                (None, _) | (_, None) => false,
                // Refused above unless the blueprint is trusted.
                (Some(_), Some("host")) => true,
                (Some(t), Some(other)) => {
                    return Err(BlueprintError::at(
                        t.pos,
                        format!(
                            "network_mode `{other}` is not supported: components always join the deployment's private network; only `host` (trusted blueprints) replaces it"
                        ),
                    ));
                }
            };
            Ok(ResolvedComponent {
                name: c.name.clone(),
                image,
                command,
                entrypoint,
                env,
                ports,
                volumes,
                memory_mb,
                cpus,
                replicas,
                depends_on: c.depends_on.iter().map(|(d, _)| d.clone()).collect(),
                tty: c.tty,
                stdin_open: c.stdin_open,
                restart: c.restart,
                health,
                working_dir: c.working_dir.as_ref().map(&render).transpose()?,
                user: c.user.as_ref().map(&render).transpose()?,
                privileged: c.privileged.0,
                cap_add: c.cap_add.iter().map(|(s, _)| s.clone()).collect(),
                devices: c.devices.iter().map(|(s, _)| s.clone()).collect(),
                host_network,
                pids: None,
                keep_caps: Vec::new(),
            })
        };
        match one() {
            Ok(r) => out.push(r),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}

/// The guardrails that literal values break, for blueprints whose inputs have no defaults
/// to resolve with.
pub fn literal_guardrails(bp: &Blueprint) -> Vec<BlueprintError> {
    bp.components
        .iter()
        .flat_map(|c| guardrails::check(bp.trusted, c, c.network_mode.as_ref().and_then(|t| t.as_literal()).as_deref()))
        .collect()
}

fn abs(path: String, pos: Pos) -> Result<String, BlueprintError> {
    if path.starts_with('/') && !path.split('/').any(|p| p == "..") {
        Ok(path)
    } else {
        Err(BlueprintError::at(pos, format!("`{path}` must be an absolute path without `..`")))
    }
}

fn cpu_range(f: f64, pos: Pos) -> Result<f64, BlueprintError> {
    if (0.01..=256.0).contains(&f) { Ok(f) } else { Err(BlueprintError::at(pos, format!("cpus must be between 0.01 and 256, not {f}"))) }
}

/// What outputs may refer to, once the deployment runs.
pub struct OutputContext<'a> {
    pub host_address: &'a str,
    pub deployment: &'a DeploymentRef,
    /// (component, container port) -> published host port (of the first replica).
    pub ports: &'a BTreeMap<(String, u16), u16>,
}

pub fn render_outputs(bp: &Blueprint, inputs: &InputValues, ctx: &OutputContext<'_>) -> BTreeMap<String, String> {
    bp.outputs
        .iter()
        .map(|(name, t)| {
            let value = t
                .render(|r| -> Result<String, ()> {
                    Ok(match r {
                        Ref::Input(n) => inputs.get(n).map(|v| v.render()).unwrap_or_default(),
                        Ref::HostAddress => ctx.host_address.to_string(),
                        Ref::DeploymentId => ctx.deployment.id.clone(),
                        Ref::DeploymentName => ctx.deployment.name.clone(),
                        Ref::ComponentPort { component, port } => {
                            ctx.ports.get(&(component.clone(), *port)).map(|p| p.to_string()).unwrap_or_default()
                        }
                    })
                })
                .unwrap_or_default();
            (name.clone(), value)
        })
        .collect()
}
