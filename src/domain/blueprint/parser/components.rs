//! The `components:` section: images, commands, ports, volumes, health, `depends_on` (no cycles).
use super::*;

pub(super) fn parse_components(p: &mut P, node: &Node) -> Vec<Component> {
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
    // The web console's command: a literal list (no inputs: a requester does not choose what
    // runs behind a shell), or one string, split at spaces.
    let console = match get(entries, "console") {
        None => None,
        Some(n @ Node::Scalar { .. }) => p.scalar(n, "console").map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>()),
        Some(_) => Some(strings(p, "console").into_iter().map(|(s, _)| s).collect()),
    };
    if let (Some(cmd), Some(n)) = (&console, get(entries, "console"))
        && (cmd.is_empty() || cmd.iter().any(|a| a.is_empty() || a.contains("${")))
    {
        p.err(n.pos(), "console is a command, as [\"/bin/bash\", \"-l\"] or \"/bin/bash -l\": not empty, without ${...}");
    }
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
        console,
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
