//! The blueprint v1 parser: every rule of BLUEPRINTS.md is checked here, each failure with
//! line and column. Parsing collects every error, not just the first.
use std::collections::{BTreeSet, HashMap};

use regex::Regex;

use super::template::{self, Ref, Tmpl};
use super::types::*;
use super::yaml::{Key, Node, Pos};
use super::{BlueprintError, ImageRef};
use crate::domain::{ComponentName, InputKey, Slug};

/// Where a reference may be used.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Component,
    Output,
}

struct P {
    errs: Vec<BlueprintError>,
}

impl P {
    fn err(&mut self, pos: Pos, msg: impl Into<String>) {
        self.errs.push(BlueprintError::at(pos, msg));
    }

    fn map<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a [(Key, Node)]> {
        match node {
            Node::Map { entries, .. } => Some(entries),
            other => {
                self.err(other.pos(), format!("{what} must be a mapping, not {}", other.kind()));
                None
            }
        }
    }

    fn seq<'a>(&mut self, node: &'a Node, what: &str) -> Option<&'a [Node]> {
        match node {
            Node::Seq { items, .. } => Some(items),
            other => {
                self.err(other.pos(), format!("{what} must be a list, not {}", other.kind()));
                None
            }
        }
    }

    /// Reports keys that are not in `allowed`.
    fn known(&mut self, entries: &[(Key, Node)], allowed: &[&str], what: &str) {
        for (k, _) in entries {
            if !allowed.contains(&k.name.as_str()) {
                self.err(k.pos, format!("unknown field `{}` in {what}; expected one of: {}", k.name, allowed.join(", ")));
            }
        }
    }

    fn scalar(&mut self, node: &Node, what: &str) -> Option<String> {
        match node {
            Node::Scalar { value, .. } => Some(value.clone()),
            other => {
                self.err(other.pos(), format!("{what} must be a value, not {}", other.kind()));
                None
            }
        }
    }

    fn text(&mut self, node: &Node, what: &str, max: usize) -> Option<String> {
        let s = self.scalar(node, what)?;
        if s.chars().count() > max {
            self.err(node.pos(), format!("{what} must be at most {max} characters"));
            return None;
        }
        Some(s)
    }

    fn int(&mut self, node: &Node, what: &str) -> Option<i64> {
        let s = self.scalar(node, what)?;
        match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.err(node.text_pos(), format!("{what} must be a whole number, not `{s}`"));
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<u32> {
        let n = self.int(node, what)?;
        if n < min || n > max {
            self.err(node.text_pos(), format!("{what} must be between {min} and {max}, not {n}"));
            return None;
        }
        u32::try_from(n).ok()
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        let s = self.scalar(node, what)?;
        match s.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.err(node.text_pos(), format!("{what} must be true or false, not `{s}`"));
                None
            }
        }
    }

    fn tmpl(&mut self, node: &Node, what: &str, scope: Scope) -> Option<Tmpl> {
        let s = self.scalar(node, what)?;
        match template::parse(&s, node.text_pos()) {
            Ok(t) => {
                if scope == Scope::Component {
                    for (r, pos) in t.refs_at() {
                        if matches!(r, Ref::HostAddress | Ref::ComponentPort { .. }) {
                            self.err(pos, format!("`${{{r}}}` can only be used in outputs"));
                        }
                    }
                }
                Some(t)
            }
            Err((pos, msg)) => {
                self.err(pos, msg);
                None
            }
        }
    }

    fn tmpl_list(&mut self, node: &Node, what: &str) -> Option<Vec<Tmpl>> {
        let items = match node {
            Node::Seq { items, .. } => items,
            other => {
                self.err(other.pos(), format!("{what} must be a list such as [\"httpd\", \"-f\"], not {}", other.kind()));
                return None;
            }
        };
        let mut out = Vec::new();
        for item in items {
            out.push(self.tmpl(item, what, Scope::Component)?);
        }
        Some(out)
    }

    fn int_field(&mut self, node: &Node, what: &str) -> Option<IntField> {
        let s = self.scalar(node, what)?;
        if s.contains("${") {
            let t = self.tmpl(node, what, Scope::Component)?;
            return Some(IntField::Tmpl(t));
        }
        self.int(node, what).map(|n| IntField::Literal(n, node.text_pos()))
    }

    fn float_field(&mut self, node: &Node, what: &str) -> Option<FloatField> {
        let s = self.scalar(node, what)?;
        if s.contains("${") {
            return self.tmpl(node, what, Scope::Component).map(FloatField::Tmpl);
        }
        match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Some(FloatField::Literal(f, node.text_pos())),
            _ => {
                self.err(node.text_pos(), format!("{what} must be a number, not `{s}`"));
                None
            }
        }
    }
}

fn get<'a>(entries: &'a [(Key, Node)], name: &str) -> Option<&'a Node> {
    entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
}

const TOP: &[&str] = &["id", "name", "description", "category", "version", "trusted", "inputs", "components", "outputs"];
const INPUT: &[&str] =
    &["type", "title", "description", "default", "min", "max", "min_length", "max_length", "pattern", "enum", "secret", "generate"];
const COMPONENT: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "env",
    "ports",
    "volumes",
    "resources",
    "replicas",
    "depends_on",
    "tty",
    "stdin_open",
    "restart",
    "health",
    "working_dir",
    "user",
    "privileged",
    "cap_add",
    "devices",
    "network_mode",
];

/// Parses and checks a whole blueprint document.
pub fn parse(root: &Node) -> Result<Blueprint, Vec<BlueprintError>> {
    let mut p = P { errs: Vec::new() };
    let Some(top) = p.map(root, "a blueprint") else { return Err(p.errs) };
    p.known(top, TOP, "the blueprint");
    let required = |p: &mut P, name: &str| -> Option<&Node> {
        let v = get(top, name);
        if v.is_none() {
            p.err(root.pos(), format!("the blueprint needs `{name}`"));
        }
        v
    };

    let id = required(&mut p, "id").and_then(|n| {
        let s = p.scalar(n, "id")?;
        if let Err(e) = Slug::parse_blueprint_id(&s) {
            p.err(n.text_pos(), format!("id {e}"));
            return None;
        }
        Some(s)
    });
    let name = required(&mut p, "name").and_then(|n| {
        let s = p.text(n, "name", 100)?;
        if s.trim().is_empty() {
            p.err(n.pos(), "name must not be empty");
            return None;
        }
        Some(s)
    });
    let description = get(top, "description").and_then(|n| p.text(n, "description", 2000)).unwrap_or_default();
    let category = get(top, "category").and_then(|n| p.text(n, "category", 60)).unwrap_or_else(|| "General".into());
    let version = required(&mut p, "version").and_then(|n| p.uint(n, "version", 1, 1_000_000));
    let trusted = get(top, "trusted").and_then(|n| p.boolean(n, "trusted")).unwrap_or(false);

    let inputs = get(top, "inputs").map(|n| parse_inputs(&mut p, n)).unwrap_or_default();
    let components = match required(&mut p, "components") {
        Some(n) => parse_components(&mut p, n),
        None => Vec::new(),
    };
    let outputs = get(top, "outputs").map(|n| parse_outputs(&mut p, n, &components)).unwrap_or_default();

    // Every reference to an input must name one.
    let names: BTreeSet<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let mut unknown = Vec::new();
    let secrets: BTreeSet<&str> = inputs.iter().filter(|i| i.secret).map(|i| i.name.as_str()).collect();
    let mut check = |t: &Tmpl, output: bool| {
        for (r, pos) in t.refs_at() {
            if let Ref::Input(n) = r {
                if !names.contains(n.as_str()) {
                    unknown.push((pos, format!("`${{inputs.{n}}}` names no input; declared inputs: {}", list_or_none(&names))));
                } else if output && secrets.contains(n.as_str()) {
                    unknown.push((pos, format!("an output cannot show the secret input `{n}`")));
                }
            }
        }
    };
    for c in &components {
        for t in component_templates(c) {
            check(t, false);
        }
    }
    for (_, t) in &outputs {
        check(t, true);
    }
    for (pos, msg) in unknown {
        p.err(pos, msg);
    }

    match (id, name, version) {
        (Some(id), Some(name), Some(version)) if p.errs.is_empty() => {
            Ok(Blueprint { id, name, description, category, version, trusted, inputs, components, outputs })
        }
        _ => {
            p.errs.sort_by_key(|e| (e.line, e.column));
            Err(p.errs)
        }
    }
}

fn list_or_none(names: &BTreeSet<&str>) -> String {
    if names.is_empty() { "none".into() } else { names.iter().copied().collect::<Vec<_>>().join(", ") }
}

/// Every template of a component, for reference checks.
pub fn component_templates(c: &Component) -> Vec<&Tmpl> {
    let mut out = vec![&c.image];
    out.extend(c.command.iter().flatten());
    out.extend(c.entrypoint.iter().flatten());
    out.extend(c.env.iter().map(|(_, t)| t));
    for p in &c.ports {
        if let IntField::Tmpl(t) = &p.container {
            out.push(t);
        }
        if let Some(IntField::Tmpl(t)) = &p.host {
            out.push(t);
        }
    }
    for v in &c.volumes {
        match v {
            VolumeSpec::Named { target, .. } => out.push(target),
            VolumeSpec::Bind { source, target, .. } => {
                out.push(source);
                out.push(target);
            }
        }
    }
    if let Some(IntField::Tmpl(t)) = &c.memory_mb {
        out.push(t);
    }
    if let Some(FloatField::Tmpl(t)) = &c.cpus {
        out.push(t);
    }
    if let IntField::Tmpl(t) = &c.replicas {
        out.push(t);
    }
    if let Some(h) = &c.health {
        out.extend(h.cmd.iter());
    }
    out.extend(c.working_dir.iter());
    out.extend(c.user.iter());
    out.extend(c.network_mode.iter());
    out
}

fn parse_inputs(p: &mut P, node: &Node) -> Vec<InputSpec> {
    if node.is_null() {
        return Vec::new();
    }
    let Some(entries) = p.map(node, "inputs") else { return Vec::new() };
    let mut out = Vec::new();
    for (key, spec) in entries {
        if let Err(e) = InputKey::parse(&key.name) {
            p.err(key.pos, format!("input name {e}"));
            continue;
        }
        if let Some(i) = parse_input(p, key, spec) {
            out.push(i);
        }
    }
    out
}

fn parse_input(p: &mut P, key: &Key, node: &Node) -> Option<InputSpec> {
    let what = format!("input `{}`", key.name);
    let entries = p.map(node, &what)?;
    p.known(entries, INPUT, &what);
    let kind = match get(entries, "type") {
        None => {
            p.err(node.pos(), format!("{what} needs a `type`: string, integer or boolean"));
            return None;
        }
        Some(t) => match p.scalar(t, "type")?.as_str() {
            "string" => InputType::String,
            "integer" => InputType::Integer,
            "boolean" => InputType::Boolean,
            other => {
                p.err(t.text_pos(), format!("{what}: `{other}` is not a type; use string, integer or boolean"));
                return None;
            }
        },
    };
    let title = get(entries, "title").and_then(|n| p.text(n, "title", 100)).unwrap_or_else(|| key.name.clone());
    let description = get(entries, "description").and_then(|n| p.text(n, "description", 500)).unwrap_or_default();
    let only = |p: &mut P, field: &str, allowed: bool, why: &str| {
        if let Some(n) = get(entries, field)
            && !allowed
        {
            p.err(n.pos(), format!("{what}: `{field}` {why}"));
        }
    };
    only(p, "min", kind == InputType::Integer, "applies to integer inputs only");
    only(p, "max", kind == InputType::Integer, "applies to integer inputs only");
    only(p, "min_length", kind == InputType::String, "applies to string inputs only");
    only(p, "max_length", kind == InputType::String, "applies to string inputs only");
    only(p, "pattern", kind == InputType::String, "applies to string inputs only");
    only(p, "secret", kind == InputType::String, "applies to string inputs only");
    let min = if kind == InputType::Integer { get(entries, "min").and_then(|n| p.int(n, "min")) } else { None };
    let max = if kind == InputType::Integer { get(entries, "max").and_then(|n| p.int(n, "max")) } else { None };
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        p.err(node.pos(), format!("{what}: min {lo} is above max {hi}"));
    }
    let len = |p: &mut P, f: &str| {
        if kind != InputType::String {
            return None;
        }
        get(entries, f).and_then(|n| p.uint(n, f, 0, 100_000)).map(|n| n as usize)
    };
    let min_length = len(p, "min_length");
    let max_length = len(p, "max_length");
    let pattern = if kind == InputType::String {
        get(entries, "pattern").and_then(|n| {
            let s = p.scalar(n, "pattern")?;
            match Regex::new(&s) {
                Ok(r) => Some(r),
                Err(e) => {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or_default().trim_start_matches("error: ").to_string();
                    p.err(n.text_pos(), format!("{what}: pattern is not a valid regular expression: {why}"));
                    None
                }
            }
        })
    } else {
        None
    };
    let secret = get(entries, "secret").and_then(|n| p.boolean(n, "secret")).unwrap_or(false);
    let generate = get(entries, "generate").and_then(|n| p.boolean(n, "generate")).unwrap_or(false);
    if generate && !secret {
        p.err(get(entries, "generate").map(Node::pos).unwrap_or(node.pos()), format!("{what}: `generate` needs `secret: true`"));
    }
    let value_of = |p: &mut P, n: &Node, field: &str| -> Option<InputValue> {
        match kind {
            InputType::String => p.scalar(n, field).map(InputValue::String),
            InputType::Integer => p.int(n, field).map(InputValue::Integer),
            InputType::Boolean => p.boolean(n, field).map(InputValue::Boolean),
        }
    };
    let choices = get(entries, "enum").and_then(|n| {
        let items = p.seq(n, "enum")?;
        if items.is_empty() {
            p.err(n.pos(), format!("{what}: enum must list at least one value"));
            return None;
        }
        let mut out = Vec::new();
        for item in items {
            out.push(value_of(p, item, "an enum value")?);
        }
        Some(out)
    });
    if kind == InputType::Boolean && choices.is_some() {
        p.err(node.pos(), format!("{what}: a boolean input takes no enum"));
    }
    let spec = InputSpec {
        name: key.name.clone(),
        kind,
        title,
        description,
        default: None,
        min,
        max,
        min_length,
        max_length,
        pattern,
        choices,
        secret,
        generate,
        pos: key.pos,
    };
    let default = get(entries, "default").and_then(|n| {
        let v = value_of(p, n, "default")?;
        if let Err(msg) = super::inputs::check_value(&spec, &v) {
            p.err(n.text_pos(), format!("{what}: the default does not fit: {msg}"));
            return None;
        }
        Some(v)
    });
    if secret && default.is_some() {
        p.err(node.pos(), format!("{what}: a secret input takes no default (use `generate: true` for a random one)"));
    }
    Some(InputSpec { default, ..spec })
}

fn parse_components(p: &mut P, node: &Node) -> Vec<Component> {
    let Some(entries) = p.map(node, "components") else { return Vec::new() };
    if entries.is_empty() {
        p.err(node.pos(), "a blueprint needs at least one component");
    }
    let mut out = Vec::new();
    for (key, spec) in entries {
        if let Err(e) = ComponentName::parse(&key.name) {
            p.err(key.pos, format!("component name {e}"));
            continue;
        }
        if let Some(c) = parse_component(p, key, spec) {
            out.push(c);
        }
    }
    // depends_on: known names, no cycles.
    let names: Vec<&str> = out.iter().map(|c| c.name.as_str()).collect();
    let mut errs = Vec::new();
    for c in &out {
        for (d, pos) in &c.depends_on {
            if !names.contains(&d.as_str()) {
                errs.push((*pos, format!("component `{}` depends on `{d}`, which is not a component", c.name)));
            } else if d == &c.name {
                errs.push((*pos, format!("component `{}` depends on itself", c.name)));
            }
        }
    }
    if errs.is_empty()
        && let Some((c, pos)) = find_cycle(&out)
    {
        errs.push((pos, format!("depends_on forms a cycle through component `{c}`")));
    }
    for (pos, m) in errs {
        p.err(pos, m);
    }
    out
}

fn find_cycle(components: &[Component]) -> Option<(String, Pos)> {
    let deps: HashMap<&str, &Vec<(String, Pos)>> = components.iter().map(|c| (c.name.as_str(), &c.depends_on)).collect();
    // 0 = unseen, 1 = on the path, 2 = done
    fn visit<'a>(n: &'a str, deps: &HashMap<&'a str, &'a Vec<(String, Pos)>>, state: &mut HashMap<&'a str, u8>) -> Option<(String, Pos)> {
        state.insert(n, 1);
        for (d, pos) in deps.get(n).map(|v| v.iter()).into_iter().flatten() {
            match state.get(d.as_str()).copied().unwrap_or(0) {
                1 => return Some((n.to_string(), *pos)),
                0 => {
                    if let Some(found) = visit(d.as_str(), deps, state) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        state.insert(n, 2);
        None
    }
    let mut state = HashMap::new();
    for c in components {
        if state.get(c.name.as_str()).copied().unwrap_or(0) == 0
            && let Some(found) = visit(&c.name, &deps, &mut state)
        {
            return Some(found);
        }
    }
    None
}

fn parse_component(p: &mut P, key: &Key, node: &Node) -> Option<Component> {
    let what = format!("component `{}`", key.name);
    let entries = p.map(node, &what)?;
    p.known(entries, COMPONENT, &what);
    let image = match get(entries, "image") {
        None => {
            p.err(node.pos(), format!("{what} needs an `image`"));
            None
        }
        Some(n) => p.tmpl(n, "image", Scope::Component).and_then(|t| {
            if let Some(lit) = t.as_literal()
                && let Err(e) = ImageRef::parse(&lit)
            {
                p.err(t.pos, e);
                return None;
            }
            Some(t)
        }),
    };
    let command = get(entries, "command").and_then(|n| p.tmpl_list(n, "command"));
    let entrypoint = get(entries, "entrypoint").and_then(|n| p.tmpl_list(n, "entrypoint"));
    let mut env = Vec::new();
    if let Some(n) = get(entries, "env")
        && let Some(vars) = p.map(n, "env")
    {
        for (k, v) in vars {
            let ok = k.name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && k.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                p.err(k.pos, format!("`{}` is not an environment variable name", k.name));
                continue;
            }
            if let Some(t) = p.tmpl(v, &format!("env `{}`", k.name), Scope::Component) {
                env.push((k.name.clone(), t));
            }
        }
    }
    let ports = get(entries, "ports").map(|n| parse_ports(p, n)).unwrap_or_default();
    let volumes = get(entries, "volumes").map(|n| parse_volumes(p, n)).unwrap_or_default();
    let (mut memory_mb, mut cpus) = (None, None);
    if let Some(n) = get(entries, "resources")
        && let Some(r) = p.map(n, "resources")
    {
        p.known(r, &["memory_mb", "cpus"], "resources");
        memory_mb = get(r, "memory_mb").and_then(|n| p.int_field(n, "memory_mb"));
        cpus = get(r, "cpus").and_then(|n| p.float_field(n, "cpus"));
    }
    let replicas = get(entries, "replicas").and_then(|n| p.int_field(n, "replicas")).unwrap_or(IntField::Literal(1, node.pos()));
    let mut depends_on = Vec::new();
    if let Some(n) = get(entries, "depends_on")
        && let Some(items) = p.seq(n, "depends_on")
    {
        for item in items {
            if let Some(s) = p.scalar(item, "depends_on") {
                depends_on.push((s, item.text_pos()));
            }
        }
    }
    let tty = get(entries, "tty").and_then(|n| p.boolean(n, "tty")).unwrap_or(false);
    let stdin_open = get(entries, "stdin_open").and_then(|n| p.boolean(n, "stdin_open")).unwrap_or(false);
    let restart = match get(entries, "restart") {
        None => RestartPolicy::No,
        Some(n) => match p.scalar(n, "restart").as_deref() {
            Some("no") => RestartPolicy::No,
            Some("always") => RestartPolicy::Always,
            Some("unless-stopped") => RestartPolicy::UnlessStopped,
            Some("on-failure") => RestartPolicy::OnFailure,
            Some(other) => {
                p.err(n.text_pos(), format!("restart `{other}` is not a policy: use no, always, unless-stopped or on-failure"));
                RestartPolicy::No
            }
            None => RestartPolicy::No,
        },
    };
    let health = get(entries, "health").and_then(|n| parse_health(p, n));
    let working_dir = get(entries, "working_dir").and_then(|n| p.tmpl(n, "working_dir", Scope::Component));
    let user = get(entries, "user").and_then(|n| p.tmpl(n, "user", Scope::Component));
    let privileged = match get(entries, "privileged") {
        Some(n) => (p.boolean(n, "privileged").unwrap_or(false), n.pos()),
        None => (false, node.pos()),
    };
    let strings = |p: &mut P, field: &str| -> Vec<(String, Pos)> {
        let Some(n) = get(entries, field) else { return Vec::new() };
        let Some(items) = p.seq(n, field) else { return Vec::new() };
        items.iter().filter_map(|i| p.scalar(i, field).map(|s| (s, i.text_pos()))).collect()
    };
    let cap_add = strings(p, "cap_add");
    let devices = strings(p, "devices");
    let network_mode = get(entries, "network_mode").and_then(|n| p.tmpl(n, "network_mode", Scope::Component));
    Some(Component {
        name: key.name.clone(),
        pos: key.pos,
        image: image?,
        command,
        entrypoint,
        env,
        ports,
        volumes,
        memory_mb,
        cpus,
        replicas,
        depends_on,
        tty,
        stdin_open,
        restart,
        health,
        working_dir,
        user,
        privileged,
        cap_add,
        devices,
        network_mode,
    })
}

fn check_port(p: &mut P, f: &IntField, what: &str) {
    if let IntField::Literal(n, pos) = f
        && !(1..=65535).contains(n)
    {
        p.err(*pos, format!("{what} {n} is out of range: a port is 1 to 65535"));
    }
}

fn parse_ports(p: &mut P, node: &Node) -> Vec<PortSpec> {
    let Some(items) = p.seq(node, "ports") else { return Vec::new() };
    let mut out = Vec::new();
    for item in items {
        let spec = match item {
            Node::Scalar { .. } => {
                p.int_field(item, "port").map(|container| PortSpec { container, host: None, protocol: Protocol::Tcp, pos: item.pos() })
            }
            Node::Map { entries, .. } => {
                p.known(entries, &["container", "host", "protocol"], "a port");
                let container = match get(entries, "container") {
                    Some(n) => p.int_field(n, "container port"),
                    None => {
                        p.err(item.pos(), "a port needs `container`: the port the container listens on");
                        None
                    }
                };
                let host = get(entries, "host").and_then(|n| p.int_field(n, "host port"));
                let protocol = match get(entries, "protocol").map(|n| (n, p.scalar(n, "protocol"))) {
                    None => Protocol::Tcp,
                    Some((_, Some(s))) if s == "tcp" => Protocol::Tcp,
                    Some((_, Some(s))) if s == "udp" => Protocol::Udp,
                    Some((n, s)) => {
                        p.err(n.text_pos(), format!("protocol `{}` is not tcp or udp", s.unwrap_or_default()));
                        Protocol::Tcp
                    }
                };
                container.map(|container| PortSpec { container, host, protocol, pos: item.pos() })
            }
            Node::Seq { .. } => {
                p.err(item.pos(), "a port is a number or a mapping {container, host, protocol}");
                None
            }
        };
        if let Some(s) = spec {
            check_port(p, &s.container, "container port");
            if let Some(h) = &s.host {
                check_port(p, h, "host port");
            }
            out.push(s);
        }
    }
    out
}

fn parse_volumes(p: &mut P, node: &Node) -> Vec<VolumeSpec> {
    let Some(items) = p.seq(node, "volumes") else { return Vec::new() };
    let mut out = Vec::new();
    for item in items {
        let Some(entries) = p.map(item, "a volume") else { continue };
        p.known(entries, &["name", "source", "target", "read_only"], "a volume");
        let target = match get(entries, "target") {
            Some(n) => p.tmpl(n, "target", Scope::Component),
            None => {
                p.err(item.pos(), "a volume needs `target`: the path inside the container");
                None
            }
        };
        if let Some(t) = &target
            && let Some(lit) = t.as_literal()
            && !lit.starts_with('/')
        {
            p.err(t.pos, format!("volume target `{lit}` must be an absolute path"));
        }
        let read_only = get(entries, "read_only").and_then(|n| p.boolean(n, "read_only")).unwrap_or(false);
        match (get(entries, "name"), get(entries, "source"), target) {
            (Some(_), Some(s), _) => p.err(s.pos(), "a volume has either `name` (a named volume) or `source` (a host path), not both"),
            (Some(n), None, Some(target)) => {
                if let Some(name) = p.scalar(n, "volume name") {
                    match ComponentName::parse(&name) {
                        Ok(_) => out.push(VolumeSpec::Named { name, target, read_only, pos: item.pos() }),
                        Err(e) => p.err(n.text_pos(), format!("volume name {e}")),
                    }
                }
            }
            (None, Some(s), Some(target)) => {
                if let Some(source) = p.tmpl(s, "source", Scope::Component) {
                    out.push(VolumeSpec::Bind { source, target, read_only, pos: item.pos() });
                }
            }
            (None, None, _) => p.err(item.pos(), "a volume needs `name` (a named volume) or `source` (a host path)"),
            _ => {}
        }
    }
    out
}

fn parse_health(p: &mut P, node: &Node) -> Option<HealthSpec> {
    let entries = p.map(node, "health")?;
    p.known(entries, &["cmd", "interval_s", "timeout_s", "retries", "start_period_s"], "health");
    let cmd = match get(entries, "cmd") {
        Some(n) => p.tmpl_list(n, "health cmd")?,
        None => {
            p.err(node.pos(), "health needs `cmd`, e.g. [\"/bin/sh\", \"-c\", \"test -e /tmp/ready\"]");
            return None;
        }
    };
    if cmd.is_empty() {
        p.err(node.pos(), "health cmd must not be empty");
    }
    Some(HealthSpec {
        cmd,
        interval_s: get(entries, "interval_s").and_then(|n| p.uint(n, "interval_s", 1, 3600)).unwrap_or(5),
        timeout_s: get(entries, "timeout_s").and_then(|n| p.uint(n, "timeout_s", 1, 3600)).unwrap_or(5),
        retries: get(entries, "retries").and_then(|n| p.uint(n, "retries", 1, 1000)).unwrap_or(10),
        start_period_s: get(entries, "start_period_s").and_then(|n| p.uint(n, "start_period_s", 0, 3600)).unwrap_or(0),
    })
}

fn parse_outputs(p: &mut P, node: &Node, components: &[Component]) -> Vec<(String, Tmpl)> {
    let Some(entries) = p.map(node, "outputs") else { return Vec::new() };
    let mut out = Vec::new();
    for (k, v) in entries {
        let Some(t) = p.tmpl(v, &format!("output `{}`", k.name), Scope::Output) else { continue };
        for (r, pos) in t.refs_at() {
            if let Ref::ComponentPort { component, port } = r {
                match components.iter().find(|c| &c.name == component) {
                    None => p.err(pos, format!("output `{}`: `{component}` is not a component", k.name)),
                    Some(c) => {
                        let published = c.ports.iter().any(|ps| match &ps.container {
                            IntField::Literal(n, _) => *n == i64::from(*port),
                            IntField::Tmpl(_) => true,
                        });
                        if !published {
                            p.err(pos, format!("output `{}`: component `{component}` publishes no container port {port}", k.name));
                        }
                    }
                }
            }
        }
        out.push((k.name.clone(), t));
    }
    out
}
