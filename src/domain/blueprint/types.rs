//! The blueprint v1 format as types. `parser` builds them from YAML, with every rule checked.
use regex::Regex;

use super::template::Tmpl;
use super::yaml::Pos;

#[derive(Debug, Clone)]
pub struct Blueprint {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub version: u32,
    pub trusted: bool,
    /// The repositories its images must come from (`registry.local:5000/team-a/*`); empty:
    /// any. With a list, an image may come from a free string input: the list bounds it.
    pub allowed_images: crate::domain::registry::AllowedImages,
    pub inputs: Vec<InputSpec>,
    pub components: Vec<Component>,
    pub outputs: Vec<(String, Tmpl)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputType {
    String,
    Integer,
    Boolean,
}

impl InputType {
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::String => "string",
            InputType::Integer => "integer",
            InputType::Boolean => "boolean",
        }
    }
}

/// A validated input value; stored as plain JSON (a string, a number or a boolean).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum InputValue {
    String(String),
    Integer(i64),
    Boolean(bool),
}

impl InputValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            InputValue::String(s) => serde_json::Value::String(s.clone()),
            InputValue::Integer(i) => serde_json::Value::from(*i),
            InputValue::Boolean(b) => serde_json::Value::Bool(*b),
        }
    }

    pub fn render(&self) -> String {
        match self {
            InputValue::String(s) => s.clone(),
            InputValue::Integer(i) => i.to_string(),
            InputValue::Boolean(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: String,
    pub kind: InputType,
    pub title: String,
    pub description: String,
    pub default: Option<InputValue>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub min_length: Option<usize>,
    pub max_length: Option<usize>,
    pub pattern: Option<Regex>,
    pub choices: Option<Vec<InputValue>>,
    pub secret: bool,
    pub generate: bool,
    pub pos: Pos,
}

/// An integer field: a number, or a string of references (`"${inputs.memory_mb}"`).
#[derive(Debug, Clone)]
pub enum IntField {
    Literal(i64, Pos),
    Tmpl(Tmpl),
}

#[derive(Debug, Clone)]
pub enum FloatField {
    Literal(f64, Pos),
    Tmpl(Tmpl),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

#[derive(Debug, Clone)]
pub struct PortSpec {
    pub container: IntField,
    pub host: Option<IntField>,
    pub protocol: Protocol,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub enum VolumeSpec {
    /// A named volume owned by the deployment.
    Named { name: String, target: Tmpl, read_only: bool, pos: Pos },
    /// A host path: refused unless the blueprint is trusted.
    Bind { source: Tmpl, target: Tmpl, read_only: bool, pos: Pos },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
            RestartPolicy::OnFailure => "on-failure",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HealthSpec {
    pub cmd: Vec<Tmpl>,
    pub interval_s: u32,
    pub timeout_s: u32,
    pub retries: u32,
    pub start_period_s: u32,
}

#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub pos: Pos,
    pub image: Tmpl,
    pub command: Option<Vec<Tmpl>>,
    pub entrypoint: Option<Vec<Tmpl>>,
    pub env: Vec<(String, Tmpl)>,
    pub ports: Vec<PortSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub memory_mb: Option<IntField>,
    pub cpus: Option<FloatField>,
    pub replicas: IntField,
    pub depends_on: Vec<(String, Pos)>,
    pub tty: bool,
    pub stdin_open: bool,
    pub restart: RestartPolicy,
    pub health: Option<HealthSpec>,
    pub working_dir: Option<Tmpl>,
    pub user: Option<Tmpl>,
    pub privileged: (bool, Pos),
    pub cap_add: Vec<(String, Pos)>,
    pub devices: Vec<(String, Pos)>,
    pub network_mode: Option<Tmpl>,
    /// The command the web console runs (`/bin/sh` when not given).
    pub console: Option<Vec<String>>,
}

impl Blueprint {
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
    /// Components in an order where each comes after those it depends on.
    pub fn start_order(&self) -> Vec<&Component> {
        let mut done: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        while out.len() < self.components.len() {
            let before = out.len();
            for c in &self.components {
                if !done.contains(&c.name.as_str()) && c.depends_on.iter().all(|(d, _)| done.contains(&d.as_str())) {
                    done.push(&c.name);
                    out.push(c);
                }
            }
            if out.len() == before {
                break; // a cycle; parse() refuses those, so this is only a guard
            }
        }
        out
    }
}
