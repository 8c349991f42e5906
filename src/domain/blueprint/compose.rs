//! A blueprint version as a Compose file a developer can run locally (`docker compose up`):
//! each component a service, each input a `${VARIABLE}` (with its default, when it has one; a
//! secret or generated input must be given: `${VARIABLE:?…}`), named volumes declared, health
//! checks and `depends_on` conditions kept. Emitted as YAML with every scalar quoted.
use std::collections::BTreeSet;

use super::template::{Ref, Seg, Tmpl};
use super::types::{Blueprint, FloatField, InputSpec, IntField, VolumeSpec};

/// A node of the YAML written out: maps keep their order. (The Compose import writes its
/// blueprint draft with it too.)
pub(super) enum Node {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// The environment variable an input becomes: `db_password` → `DB_PASSWORD`.
pub fn variable(input: &str) -> String {
    input.to_ascii_uppercase().replace('-', "_")
}

fn interpolation(spec: Option<&InputSpec>, name: &str) -> String {
    let var = variable(name);
    match spec {
        Some(s) if s.secret || s.generate => format!("${{{var}:?set {var}}}"),
        Some(InputSpec { default: Some(d), .. }) => format!("${{{var}:-{}}}", d.render().replace('}', "")),
        _ => format!("${{{var}:?set {var}}}"),
    }
}

/// A template as Compose text: inputs become variables, the rest what it is locally.
fn text(bp: &Blueprint, t: &Tmpl) -> String {
    let mut out = String::new();
    for s in &t.segs {
        match s {
            // A literal `$` would start an interpolation: Compose writes it `$$`.
            Seg::Lit(l) => out.push_str(&l.replace('$', "$$")),
            Seg::Ref(Ref::Input(n)) => out.push_str(&interpolation(bp.inputs.iter().find(|i| &i.name == n), n)),
            Seg::Ref(Ref::HostAddress) => out.push_str("localhost"),
            Seg::Ref(Ref::DeploymentId) | Seg::Ref(Ref::DeploymentName) => out.push_str(&bp.id),
            Seg::Ref(Ref::ComponentPort { port, .. }) => out.push_str(&port.to_string()),
        }
    }
    out
}

fn int(bp: &Blueprint, f: &IntField) -> Node {
    match f {
        IntField::Literal(n, _) => Node::Int(*n),
        IntField::Tmpl(t) => Node::Str(text(bp, t)),
    }
}

fn seconds(s: u32) -> Node {
    Node::Str(format!("{s}s"))
}

/// The Compose file for a blueprint version.
pub fn export(bp: &Blueprint) -> String {
    let mut services = Vec::new();
    let mut volumes = BTreeSet::new();
    for c in &bp.components {
        let mut svc: Vec<(String, Node)> = vec![("image".into(), Node::Str(text(bp, &c.image)))];
        let list = |v: &Vec<Tmpl>| Node::List(v.iter().map(|t| Node::Str(text(bp, t))).collect());
        if let Some(e) = &c.entrypoint {
            svc.push(("entrypoint".into(), list(e)));
        }
        if let Some(cmd) = &c.command {
            svc.push(("command".into(), list(cmd)));
        }
        if !c.env.is_empty() {
            svc.push(("environment".into(), Node::Map(c.env.iter().map(|(k, v)| (k.clone(), Node::Str(text(bp, v)))).collect())));
        }
        if !c.ports.is_empty() {
            let ports = c
                .ports
                .iter()
                .map(|p| {
                    let field = |f: &IntField| match f {
                        IntField::Literal(n, _) => n.to_string(),
                        IntField::Tmpl(t) => text(bp, t),
                    };
                    let container = field(&p.container);
                    let published = p.host.as_ref().map(|h| format!("{}:", field(h))).unwrap_or_default();
                    Node::Str(format!("{published}{container}/{}", p.protocol.as_str()))
                })
                .collect();
            svc.push(("ports".into(), Node::List(ports)));
        }
        if !c.volumes.is_empty() {
            let vols = c
                .volumes
                .iter()
                .map(|v| match v {
                    VolumeSpec::Named { name, target, read_only, .. } => {
                        volumes.insert(name.clone());
                        Node::Str(format!("{name}:{}{}", text(bp, target), if *read_only { ":ro" } else { "" }))
                    }
                    VolumeSpec::Bind { source, target, read_only, .. } => {
                        Node::Str(format!("{}:{}{}", text(bp, source), text(bp, target), if *read_only { ":ro" } else { "" }))
                    }
                })
                .collect();
            svc.push(("volumes".into(), Node::List(vols)));
        }
        if !c.depends_on.is_empty() {
            let deps = c
                .depends_on
                .iter()
                .map(|(d, _)| {
                    let healthy = bp.components.iter().any(|x| &x.name == d && x.health.is_some());
                    let condition = if healthy { "service_healthy" } else { "service_started" };
                    (d.clone(), Node::Map(vec![("condition".into(), Node::Str(condition.into()))]))
                })
                .collect();
            svc.push(("depends_on".into(), Node::Map(deps)));
        }
        if let Some(h) = &c.health {
            let mut test = vec![Node::Str("CMD".into())];
            test.extend(h.cmd.iter().map(|t| Node::Str(text(bp, t))));
            svc.push((
                "healthcheck".into(),
                Node::Map(vec![
                    ("test".into(), Node::List(test)),
                    ("interval".into(), seconds(h.interval_s)),
                    ("timeout".into(), seconds(h.timeout_s)),
                    ("retries".into(), Node::Int(i64::from(h.retries))),
                    ("start_period".into(), seconds(h.start_period_s)),
                ]),
            ));
        }
        svc.push(("restart".into(), Node::Str(c.restart.as_str().into())));
        if let Some(w) = &c.working_dir {
            svc.push(("working_dir".into(), Node::Str(text(bp, w))));
        }
        if let Some(u) = &c.user {
            svc.push(("user".into(), Node::Str(text(bp, u))));
        }
        if c.tty {
            svc.push(("tty".into(), Node::Bool(true)));
        }
        if c.stdin_open {
            svc.push(("stdin_open".into(), Node::Bool(true)));
        }
        if c.privileged.0 {
            svc.push(("privileged".into(), Node::Bool(true)));
        }
        let mut limits = Vec::new();
        if let Some(m) = &c.memory_mb {
            limits.push((
                "memory".into(),
                Node::Str(match m {
                    IntField::Literal(n, _) => format!("{n}M"),
                    IntField::Tmpl(t) => format!("{}M", text(bp, t)),
                }),
            ));
        }
        if let Some(cpu) = &c.cpus {
            limits.push((
                "cpus".into(),
                Node::Str(match cpu {
                    FloatField::Literal(x, _) => x.to_string(),
                    FloatField::Tmpl(t) => text(bp, t),
                }),
            ));
        }
        let mut deploy = vec![("replicas".into(), int(bp, &c.replicas))];
        if !limits.is_empty() {
            deploy.push(("resources".into(), Node::Map(vec![("limits".into(), Node::Map(limits))])));
        }
        svc.push(("deploy".into(), Node::Map(deploy)));
        services.push((c.name.clone(), Node::Map(svc)));
    }
    let mut root = vec![("name".to_string(), Node::Str(bp.id.clone())), ("services".to_string(), Node::Map(services))];
    if !volumes.is_empty() {
        root.push(("volumes".into(), Node::Map(volumes.into_iter().map(|v| (v, Node::Map(Vec::new()))).collect())));
    }
    let mut out = format!(
        "# {} ({}), blueprint `{}` version {}, exported by Wharf for `docker compose up`.\n",
        bp.name.replace('\n', " "),
        bp.description.lines().next().unwrap_or_default(),
        bp.id,
        bp.version
    );
    for i in &bp.inputs {
        let what = if i.secret || i.generate {
            "required (secret)".to_string()
        } else {
            i.default.as_ref().map_or_else(|| "required".to_string(), |d| format!("default {}", d.render()))
        };
        out.push_str(&format!("# ${} ({}): {}; {what}\n", variable(&i.name), i.kind.as_str(), i.title.replace('\n', " ")));
    }
    write(&mut out, &Node::Map(root), 0);
    out
}

/// Double-quoted (JSON string syntax is YAML's too): no value is read as another type.
pub(super) fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// `node` as YAML, every scalar double-quoted.
pub(super) fn yaml(node: &Node) -> String {
    let mut out = String::new();
    write(&mut out, node, 0);
    out
}

fn write(out: &mut String, node: &Node, indent: usize) {
    let pad = " ".repeat(indent);
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                match v {
                    Node::Map(m) if m.is_empty() => out.push_str(&format!("{pad}{}: {{}}\n", quoted(k))),
                    Node::List(l) if l.is_empty() => out.push_str(&format!("{pad}{}: []\n", quoted(k))),
                    Node::Map(_) | Node::List(_) => {
                        out.push_str(&format!("{pad}{}:\n", quoted(k)));
                        write(out, v, indent + 2);
                    }
                    scalar => out.push_str(&format!("{pad}{}: {}\n", quoted(k), scalar_text(scalar))),
                }
            }
        }
        Node::List(items) => {
            for v in items {
                match v {
                    Node::Map(_) | Node::List(_) => {
                        out.push_str(&format!("{pad}-\n"));
                        write(out, v, indent + 2);
                    }
                    scalar => out.push_str(&format!("{pad}- {}\n", scalar_text(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", scalar_text(scalar))),
    }
}

fn scalar_text(n: &Node) -> String {
    match n {
        Node::Str(s) => quoted(s),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Map(_) | Node::List(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blueprint::parse;

    const SHOP: &str = r#"
id: shop
name: Shop
version: 2
inputs:
  greeting: { type: string, default: hello, pattern: "^[a-z]+$" }
  replicas: { type: integer, default: 1, min: 1, max: 3 }
  db_password: { type: string, secret: true, generate: true }
components:
  db:
    image: postgres:16
    env: { POSTGRES_PASSWORD: "${inputs.db_password}" }
    volumes: [ { name: data, target: /var/lib/postgresql/data } ]
    health: { cmd: ["pg_isready"], interval_s: 2, retries: 10 }
  web:
    image: busybox
    command: ["sh", "-c", "echo $GREETING; exec httpd -f -p 8080"]
    env: { GREETING: "say ${inputs.greeting}", DB_HOST: db }
    ports: [ { container: 8080, host: 30080 }, 9090 ]
    replicas: "${inputs.replicas}"
    resources: { memory_mb: 64, cpus: 0.5 }
    depends_on: [db]
"#;

    #[test]
    fn a_blueprint_becomes_a_compose_file() {
        let out = export(&parse(SHOP).unwrap());
        for line in [
            "\"name\": \"shop\"",
            "    \"image\": \"postgres:16\"",
            "      \"POSTGRES_PASSWORD\": \"${DB_PASSWORD:?set DB_PASSWORD}\"",
            "      - \"data:/var/lib/postgresql/data\"",
            "      \"test\":\n        - \"CMD\"\n        - \"pg_isready\"",
            "      \"interval\": \"2s\"",
            "      \"GREETING\": \"say ${GREETING:-hello}\"",
            "      - \"sh\"\n      - \"-c\"\n      - \"echo $$GREETING; exec httpd -f -p 8080\"",
            "      - \"30080:8080/tcp\"\n      - \"9090/tcp\"",
            "      \"db\":\n        \"condition\": \"service_healthy\"",
            "      \"replicas\": \"${REPLICAS:-1}\"",
            "          \"memory\": \"64M\"\n          \"cpus\": \"0.5\"",
            "\"volumes\":\n  \"data\": {}",
            "# $DB_PASSWORD (string): ",
        ] {
            assert!(out.contains(line), "missing {line:?} in:\n{out}");
        }
    }

    #[test]
    fn the_export_is_yaml_of_the_expected_shape() {
        use crate::domain::blueprint::yaml::{self, Node as Y};
        let out = export(&parse(SHOP).unwrap());
        let Y::Map { entries, .. } = yaml::parse(&out).unwrap() else { panic!("a map at the top:\n{out}") };
        let keys: Vec<&str> = entries.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(keys, ["name", "services", "volumes"]);
        let Some((_, Y::Map { entries: services, .. })) = entries.iter().find(|(k, _)| k.name == "services") else { panic!() };
        let names: Vec<&str> = services.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["db", "web"]);
        // Every scalar is quoted: "0.5" stays text, as Compose wants its cpus.
        assert!(!out.lines().any(|l| l.trim_end().ends_with(": 0.5")), "{out}");
    }

    #[test]
    fn quoting_keeps_every_value_a_string() {
        assert_eq!(quoted("yes"), "\"yes\"");
        assert_eq!(quoted("a \"b\"\n"), "\"a \\\"b\\\"\\n\"");
        assert_eq!(variable("db-password"), "DB-PASSWORD".replace('-', "_"));
    }
}
