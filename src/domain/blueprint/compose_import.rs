//! A Compose file as a blueprint v1 draft: each service a component (image, command,
//! entrypoint, environment, ports, volumes, `depends_on` with its conditions, health check,
//! restart, `deploy.replicas` and `deploy.resources`), each `${VAR}` / `${VAR:-default}` a typed
//! input (integer or boolean when the default says so, or where a number is needed). What a
//! blueprint cannot hold (`build:`, host networking, `privileged`, host bind mounts, `extends`,
//! …) is an error at its line and column; what is only left out (a container name, labels,
//! logging, …) is a note. The draft is checked as any blueprint (guardrails included) before it
//! is handed back.
use std::collections::BTreeMap;

use super::compose::{Node as Out, quoted, yaml};
use super::yaml::{Key, Node, Pos};
use super::{BlueprintError, ImageRef};
use crate::domain::registry::split_image;
use crate::domain::{ComponentName, InputKey, Slug};

/// The draft and what was left out of it (each with where it was in the Compose file).
#[derive(Debug, Clone)]
pub struct Imported {
    pub source: String,
    pub notes: Vec<BlueprintError>,
}

/// Where a `${VAR}` is used decides the input's type when it has no default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Text,
    Number,
    /// In a shell script or a user: bounded by an enum of its default.
    Guarded,
    /// In an image's tag: bounded by the draft's `allowed_images`.
    Image,
    /// A number of CPUs (a decimal).
    Decimal,
}

#[derive(Debug, Clone)]
struct Variable {
    default: Option<String>,
    required: bool,
    uses: Vec<Use>,
    pos: Pos,
}

struct Importer {
    errors: Vec<BlueprintError>,
    notes: Vec<BlueprintError>,
    vars: BTreeMap<String, Variable>,
    /// Repositories whose tag comes from a variable: the draft allows them (`allowed_images`).
    allowed: Vec<String>,
    /// Every literal image's repository (allowed too when the draft has a list).
    literal_images: Vec<String>,
    /// Variables that hold secrets (by their names, or the environment keys they fill).
    secrets: std::collections::BTreeSet<String>,
    /// Variables that give only an image's tag.
    tags: std::collections::BTreeSet<String>,
}

/// A name that says it holds a secret.
fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "ACCESS_KEY", "CREDENTIAL"]
        .iter()
        .any(|w| upper.contains(w))
}

/// Keys of a service left out with a note: what they do is Wharf's to decide, or not needed.
const LEFT_OUT: &[(&str, &str)] = &[
    ("container_name", "Wharf names containers after the deployment"),
    ("hostname", "components reach each other by their names"),
    ("domainname", "components reach each other by their names"),
    ("labels", "Wharf labels its containers itself"),
    ("logging", "logs are read through Wharf"),
    ("networks", "every component joins the deployment's private network"),
    ("links", "components reach each other by their names"),
    ("external_links", "components reach each other by their names"),
    ("expose", "components reach each other's ports on the private network"),
    ("init", "not part of the blueprint format"),
    ("stop_grace_period", "Wharf's stop timeout applies"),
    ("stop_signal", "not part of the blueprint format"),
    ("platform", "hosts pull for their own platform"),
    ("pull_policy", "hosts pull an image they do not have"),
    ("profiles", "every service is imported"),
    ("security_opt", "Wharf applies its own confinement (no-new-privileges, capabilities dropped)"),
    ("ulimits", "Wharf sets the process limit"),
    ("sysctls", "not part of the blueprint format"),
    ("dns", "not part of the blueprint format"),
    ("dns_search", "not part of the blueprint format"),
    ("extra_hosts", "not part of the blueprint format"),
    ("shm_size", "not part of the blueprint format"),
    ("read_only", "not part of the blueprint format"),
    ("tmpfs", "not part of the blueprint format"),
    ("mem_reservation", "Wharf counts limits"),
    ("cpu_shares", "Wharf counts limits"),
    ("oom_score_adj", "not part of the blueprint format"),
    ("attach", "not part of the blueprint format"),
    ("develop", "not part of the blueprint format"),
];

/// Keys of a service a blueprint cannot hold: refused, saying why.
const REFUSED: &[(&str, &str)] = &[
    ("build", "Wharf deploys images: build and push it to a registry, then name it in `image:`"),
    ("extends", "write the service out in full (Wharf reads one file)"),
    ("env_file", "Wharf does not read files beside the Compose file: move the variables to `environment:`"),
    ("secrets", "give a secret as an `environment:` variable (`${VAR}`): it becomes a secret input"),
    ("configs", "not part of the blueprint format"),
    ("volumes_from", "share a named volume instead"),
    ("cap_add", "added capabilities need a trusted blueprint: an admin adds them by hand"),
    ("devices", "host devices need a trusted blueprint: an admin adds them by hand"),
    ("pid", "a shared process namespace is not part of the blueprint format"),
    ("ipc", "a shared IPC namespace is not part of the blueprint format"),
    ("userns_mode", "not part of the blueprint format"),
    ("cgroup_parent", "not part of the blueprint format"),
];

fn get<'a>(entries: &'a [(Key, Node)], name: &str) -> Option<&'a Node> {
    entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
}

fn scalar(n: &Node) -> Option<&str> {
    match n {
        Node::Scalar { value, .. } => Some(value),
        _ => None,
    }
}

impl Importer {
    fn err(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push(BlueprintError::at(pos, printable(&message.into())));
    }

    fn note(&mut self, pos: Pos, message: impl Into<String>) {
        self.notes.push(BlueprintError::at(pos, printable(&message.into())));
    }

    fn text<'a>(&mut self, n: &'a Node, what: &str) -> Option<&'a str> {
        match n {
            Node::Scalar { value, .. } => Some(value),
            other => {
                self.err(other.pos(), format!("{what} must be a value, not {}", other.kind()));
                None
            }
        }
    }

    /// Compose text as blueprint text: `$$` a literal `$`, each `${VAR…}` / `$VAR` an input
    /// reference (recorded with its default), a literal `${` written `$${`.
    fn interpolate(&mut self, text: &str, pos: Pos, using: Use) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                // `$$`: a literal `$` (written `$${` in a blueprint when a `{` follows). A
                // literal `$` right before a variable has no blueprint spelling.
                if tail.starts_with('$') && !tail.starts_with("$$") {
                    self.err(pos, format!("`{text}`: a literal `$` right before a variable cannot be written in a blueprint"));
                    return None;
                }
                out.push_str(if tail.starts_with('{') { "$$" } else { "$" });
                rest = tail;
            } else if let Some(body) = after.strip_prefix('{') {
                let Some(end) = body.find('}') else {
                    self.err(pos, format!("`${{` without a closing `}}` in `{text}`"));
                    return None;
                };
                let inner = &body[..end];
                let name_len = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
                let (name, op) = inner.split_at(name_len);
                let (default, required) = match op {
                    "" => (None, false),
                    o if o.starts_with(":-") => (Some(o[2..].to_string()), false),
                    o if o.starts_with('-') => (Some(o[1..].to_string()), false),
                    o if o.starts_with(":?") || o.starts_with('?') => (None, true),
                    o => {
                        self.err(
                            pos,
                            format!(
                                "`${{{inner}}}`: only ${{VAR}}, ${{VAR:-default}} and ${{VAR:?message}} can become inputs (`{o}` cannot)"
                            ),
                        );
                        return None;
                    }
                };
                if default.as_deref().is_some_and(|d| d.contains('$')) {
                    self.err(pos, format!("`${{{inner}}}`: a default that holds another variable cannot become an input's default"));
                    return None;
                }
                out.push_str(&self.reference(name, default, required, pos, using)?);
                rest = &body[end + 1..];
            } else {
                let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                if len == 0 || after.starts_with(|c: char| c.is_ascii_digit()) {
                    out.push('$');
                    rest = after;
                } else {
                    out.push_str(&self.reference(&after[..len], None, false, pos, using)?);
                    rest = &after[len..];
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }

    /// `${inputs.var}` for a Compose variable, recorded.
    fn reference(&mut self, name: &str, default: Option<String>, required: bool, pos: Pos, using: Use) -> Option<String> {
        let key = name.to_ascii_lowercase();
        if InputKey::parse(&key).is_err() {
            self.err(pos, format!("`{name}` cannot become an input name (a-z, 0-9 and '_', starting with a letter or '_')"));
            return None;
        }
        let v = self.vars.entry(key.clone()).or_insert(Variable { default: None, required: false, uses: Vec::new(), pos });
        if v.default.is_none() {
            v.default = default;
        }
        v.required |= required;
        v.uses.push(using);
        Some(format!("${{inputs.{key}}}"))
    }

    /// A command or entrypoint's words: a list, or a string split as a shell would (no shell
    /// runs it).
    fn raw_words(&mut self, n: &Node, what: &str) -> Option<Vec<(String, Pos)>> {
        let items: Vec<(String, Pos)> = match n {
            Node::Seq { items, .. } => {
                let mut v = Vec::new();
                for i in items {
                    v.push((self.text(i, what)?.to_string(), i.text_pos()));
                }
                v
            }
            Node::Scalar { value, .. } => match split_words(value) {
                Ok(w) => w.into_iter().map(|s| (s, n.text_pos())).collect(),
                Err(e) => {
                    self.err(n.text_pos(), format!("{what}: {e}"));
                    return None;
                }
            },
            Node::Map { pos, .. } => {
                self.err(*pos, format!("{what} must be a list or a string"));
                return None;
            }
        };
        Some(items)
    }

    /// The entrypoint and the command, read as the one line they run as: a variable in the
    /// program's name, in a shell's or an interpreter's options, or in their script (`sh -c
    /// SCRIPT`, `python3 -c SCRIPT`, also when the entrypoint is `sh -c` and the command the
    /// script) takes only a bounded input.
    fn command_line(&mut self, entrypoint: Option<&Node>, command: Option<&Node>) -> (Option<Out>, Option<Out>) {
        let entry = entrypoint.filter(|n| !n.is_null()).and_then(|n| self.raw_words(n, "entrypoint"));
        let cmd = command.filter(|n| !n.is_null()).and_then(|n| self.raw_words(n, "command"));
        let line: Vec<&(String, Pos)> = entry.iter().flatten().chain(cmd.iter().flatten()).collect();
        // The words that decide what runs, read as the blueprint parser reads them.
        let roles = super::parser::roles(&line.iter().map(|(w, _)| as_word(w)).collect::<Vec<_>>());
        let guarded: Vec<bool> =
            (0..line.len()).map(|i| roles.program == Some(i) || roles.script == Some(i) || roles.options.contains(&i)).collect();
        let mut index = 0;
        let mut convert = |words: Option<Vec<(String, Pos)>>, im: &mut Self| -> Option<Out> {
            let words = words?;
            let mut out = Vec::new();
            for (s, pos) in &words {
                let using = if guarded.get(index).copied().unwrap_or(false) { Use::Guarded } else { Use::Text };
                index += 1;
                out.push(Out::Str(im.interpolate(s, *pos, using)?));
            }
            Some(Out::List(out))
        };
        let entry = convert(entry, self);
        let cmd = convert(cmd, self);
        (entry, cmd)
    }
}

/// A Compose word as the blueprint parser will see it: with a variable (`$X`, `${X}`; `$$` is a
/// literal `$`, and so is a `$` before anything else, such as `$1`), or literal.
fn as_word(w: &str) -> super::parser::Word<'_> {
    let b = w.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            match b.get(i + 1) {
                Some(b'$') => {
                    i += 2;
                    continue;
                }
                Some(c) if *c == b'{' || *c == b'_' || c.is_ascii_alphabetic() => return super::parser::Word::Reference { lead: &w[..i] },
                _ => {}
            }
        }
        i += 1;
    }
    super::parser::Word::Literal(w)
}

/// `text` without control characters (a name from the file could hold a carriage return,
/// which ends a YAML comment line in the draft, or moves a terminal's cursor).
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Splits a command string into words as a POSIX shell would (quotes and backslashes), without
/// expanding anything.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \" is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a \" is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            '$' if chars.clone().next() == Some('{') => {
                // A Compose variable stays whole (its default may hold spaces).
                in_word = true;
                word.push('$');
                for c in chars.by_ref() {
                    word.push(c);
                    if c == '}' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// A Compose duration (`1m30s`, `500ms`, `10s`) in whole seconds, rounded up.
pub fn duration_secs(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u32>() {
        // A bare number is nanoseconds in Compose's long form; seconds are what people mean.
        return Some(n);
    }
    let mut total_ms: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            _ => return None,
        };
        total_ms = total_ms.checked_add((value * ms).ceil() as u64)?;
        rest = &rest[unit_len..];
    }
    u32::try_from(total_ms.div_ceil(1000)).ok()
}

/// A Compose byte size (`512m`, `1g`, `1.5GB`, `268435456`) in MiB, rounded up.
pub fn size_mb(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").map(|x| x.to_string()).unwrap_or(t);
    let t = t.strip_suffix('b').map(str::to_string).unwrap_or(t);
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let value: f64 = t[..digits].parse().ok()?;
    let bytes = match &t[digits..] {
        "" => value,
        "k" => value * 1024.0,
        "m" => value * 1024.0 * 1024.0,
        "g" => value * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let mb = (bytes / (1024.0 * 1024.0)).ceil();
    (1.0..1e9).contains(&mb).then_some(mb as i64)
}

/// `s` cut at each `:` that is not inside a `${…}`.
fn split_outside_variables(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A port or a range (`8080`, `8080-8082`): the first and last.
fn port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
    (a >= 1 && b >= a && b - a < 1000).then_some((a, b))
}

/// Converts a Compose file. `id` names the blueprint (else Compose's `name:`, else `fallback`).
pub fn import(text: &str, id: Option<&str>, fallback: &str) -> Result<Imported, Vec<BlueprintError>> {
    let root = super::yaml::parse(text).map_err(|e| vec![e])?;
    let mut im = Importer {
        errors: Vec::new(),
        notes: Vec::new(),
        vars: BTreeMap::new(),
        allowed: Vec::new(),
        literal_images: Vec::new(),
        secrets: Default::default(),
        tags: Default::default(),
    };
    let Node::Map { entries: top, pos: top_pos } = &root else {
        return Err(vec![BlueprintError::at(root.pos(), "a Compose file is a mapping with `services:`")]);
    };
    let mut declared_volumes: Vec<(String, Pos)> = Vec::new();
    for (k, v) in top {
        match k.name.as_str() {
            "services" | "name" => {}
            "version" => im.note(k.pos, "`version` is obsolete in Compose and not needed"),
            "volumes" => {
                if let Node::Map { entries, .. } = v {
                    for (name, spec) in entries {
                        declared_volumes.push((name.name.clone(), name.pos));
                        if let Node::Map { entries: opts, .. } = spec {
                            for (o, ov) in opts {
                                match o.name.as_str() {
                                    "external" if scalar(ov) == Some("true") => im.err(
                                        o.pos,
                                        format!("volume `{}` is external: a blueprint's volumes belong to each deployment", name.name),
                                    ),
                                    "external" | "name" | "labels" => {}
                                    other => im.note(o.pos, format!("volume option `{other}` is left out: hosts make plain local volumes")),
                                }
                            }
                        }
                    }
                }
            }
            "networks" => im.note(k.pos, "networks are left out: every deployment gets a private network of its own"),
            "secrets" | "configs" => {
                im.err(k.pos, format!("top-level `{}` cannot be imported: give values as `environment:` variables", k.name))
            }
            "include" => im.err(k.pos, "`include` cannot be imported: Wharf reads one file"),
            other if other.starts_with("x-") => im.note(k.pos, format!("extension `{other}` is left out")),
            other => im.note(k.pos, format!("`{other}` is not part of a Compose file Wharf imports; left out")),
        }
    }
    let Some(Node::Map { entries: services, .. }) = get(top, "services") else {
        return Err(vec![BlueprintError::at(*top_pos, "a Compose file needs `services:` (a mapping of services)")]);
    };
    if services.is_empty() {
        return Err(vec![BlueprintError::at(*top_pos, "`services:` is empty")]);
    }

    // Service names become component names (a-z, 0-9, '-').
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (k, _) in services {
        let name = k.name.to_ascii_lowercase().replace(['_', '.'], "-");
        if let Some((other, _)) = names.iter().find(|(_, n)| **n == name) {
            im.err(k.pos, format!("services `{other}` and `{}` would both become component `{name}`: rename one", k.name));
            continue;
        }
        match ComponentName::parse(&name) {
            Ok(_) => {
                if name != k.name {
                    im.note(k.pos, format!("service `{}` becomes component `{name}` (components are a-z, 0-9 and '-'); other services reach it by that name", k.name));
                }
                names.insert(k.name.clone(), name);
            }
            Err(e) => im.err(k.pos, format!("service `{}` cannot become a component: {e}", k.name)),
        }
    }

    let mut components = Vec::new();
    let mut volumes_used: BTreeMap<String, Pos> = BTreeMap::new();
    for (k, svc) in services {
        let Some(component) = names.get(&k.name).cloned() else { continue };
        let Node::Map { entries, pos } = svc else {
            im.err(svc.pos(), format!("service `{}` must be a mapping", k.name));
            continue;
        };
        let mut c: Vec<(String, Out)> = Vec::new();
        for (key, _) in entries {
            if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == key.name) {
                im.err(key.pos, format!("`{}` cannot be imported: {why}", key.name));
            } else if let Some((_, why)) = LEFT_OUT.iter().find(|(n, _)| *n == key.name) {
                im.note(key.pos, format!("`{}` of `{}` is left out: {why}", key.name, k.name));
            } else if !KNOWN.contains(&key.name.as_str()) {
                im.note(key.pos, format!("`{}` of `{}` is not something Wharf imports; left out", key.name, k.name));
            }
        }
        // image
        match get(entries, "image") {
            Some(n) => {
                if let Some(raw) = im.text(n, "image") {
                    let raw = raw.to_string();
                    if let Some(image) = im.interpolate(&raw, n.text_pos(), Use::Image) {
                        if image.contains("${") {
                            // A variable in the tag: the repository is fixed, allowed by the draft.
                            // The repository: what comes before the `:` that the first variable follows.
                            let repo =
                                raw.find('$').and_then(|i| raw[..i].strip_suffix(':')).filter(|r| !r.contains('$')).map(str::to_string);
                            match repo.filter(|r| ImageRef::parse(r).is_ok()) {
                                Some(r) => {
                                    let (registry, path) = split_image(&r);
                                    let pattern = format!("{registry}/{path}");
                                    if !im.allowed.contains(&pattern) {
                                        im.allowed.push(pattern);
                                    }
                                    for name in im.vars.keys().cloned().collect::<Vec<_>>() {
                                        if image.contains(&format!("${{inputs.{name}}}")) {
                                            im.tags.insert(name);
                                        }
                                    }
                                }
                                None => im.err(
                                    n.text_pos(),
                                    format!("image `{raw}`: a variable may give the tag, not the repository (name the repository, or list the images it may be)"),
                                ),
                            }
                        } else {
                            match ImageRef::parse(&image) {
                                Ok(_) => {
                                    let (registry, path) = split_image(&image);
                                    im.literal_images.push(format!("{registry}/{path}"));
                                }
                                Err(e) => im.err(n.text_pos(), e),
                            }
                        }
                        c.push(("image".into(), Out::Str(image)));
                    }
                }
            }
            None => {
                if get(entries, "build").is_none() {
                    im.err(*pos, format!("service `{}` has no `image:`", k.name));
                }
            }
        }
        let (entrypoint, command) = im.command_line(get(entries, "entrypoint"), get(entries, "command"));
        if let Some(list) = entrypoint {
            c.push(("entrypoint".into(), list));
        }
        if let Some(list) = command {
            c.push(("command".into(), list));
        }
        // environment: a mapping, or a list of KEY=VALUE.
        if let Some(n) = get(entries, "environment") {
            let mut env = Vec::new();
            let pairs: Vec<(String, Option<String>, Pos)> = match n {
                Node::Map { entries, .. } => {
                    let mut pairs = Vec::new();
                    for (k, v) in entries {
                        match v {
                            _ if v.is_null() => pairs.push((k.name.clone(), None, v.text_pos())),
                            Node::Scalar { value, .. } => pairs.push((k.name.clone(), Some(value.clone()), v.text_pos())),
                            other => im.err(other.pos(), format!("environment `{}` must be a value, not {}", k.name, other.kind())),
                        }
                    }
                    pairs
                }
                Node::Seq { items, .. } => items
                    .iter()
                    .filter_map(|i| scalar(i).map(|s| (s, i.text_pos())))
                    .map(|(s, p)| match s.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string()), p),
                        None => (s.to_string(), None, p),
                    })
                    .collect(),
                other => {
                    im.err(other.pos(), "environment must be a mapping or a list of KEY=VALUE");
                    Vec::new()
                }
            };
            for (key, value, p) in pairs {
                let secret_key = looks_secret(&key);
                match value {
                    Some(v) => {
                        let before: Vec<String> = im.vars.keys().cloned().collect();
                        if let Some(v) = im.interpolate(&v, p, Use::Text) {
                            if secret_key {
                                if v.contains("${inputs.") {
                                    // The variables it holds are secrets too.
                                    for name in im.vars.keys().cloned().collect::<Vec<_>>() {
                                        if v.contains(&format!("${{inputs.{name}}}")) {
                                            im.secrets.insert(name);
                                        }
                                    }
                                } else {
                                    im.note(p, format!("`{key}` holds a literal value in the draft, in clear: make it a variable (`${{{key}}}`) so that it becomes a secret input"));
                                }
                            }
                            let _ = before;
                            env.push((key, Out::Str(v)));
                        }
                    }
                    // `KEY` alone takes the value from the shell Compose runs in: an input here.
                    None => {
                        if secret_key {
                            im.secrets.insert(key.to_ascii_lowercase());
                        }
                        let r = im.reference(&key, None, true, p, Use::Text);
                        if let Some(r) = r {
                            env.push((key, Out::Str(r)));
                        }
                    }
                }
            }
            if !env.is_empty() {
                c.push(("env".into(), Out::Map(env)));
            }
        }
        // ports
        if let Some(Node::Seq { items, .. }) = get(entries, "ports") {
            let mut ports = Vec::new();
            for item in items {
                ports.extend(im.port(item, &k.name));
                if ports.len() > MAX_PORTS {
                    im.err(item.pos(), format!("service `{}` publishes more than {MAX_PORTS} ports", k.name));
                    break;
                }
            }
            if !ports.is_empty() {
                c.push(("ports".into(), Out::List(ports)));
            }
        }
        // volumes
        if let Some(Node::Seq { items, .. }) = get(entries, "volumes") {
            let mut vols = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Some((name, target, read_only)) = im.volume(item, &component, i) {
                    volumes_used.entry(name.clone()).or_insert(item.pos());
                    let mut v = vec![("name".to_string(), Out::Str(name)), ("target".to_string(), Out::Str(target))];
                    if read_only {
                        v.push(("read_only".into(), Out::Bool(true)));
                    }
                    vols.push(Out::Map(v));
                }
            }
            if !vols.is_empty() {
                c.push(("volumes".into(), Out::List(vols)));
            }
        }
        // resources: deploy.resources.limits, else mem_limit / cpus.
        let deploy = match get(entries, "deploy") {
            Some(Node::Map { entries, .. }) => Some(entries.as_slice()),
            _ => None,
        };
        let limits = deploy
            .and_then(|d| match get(d, "resources") {
                Some(Node::Map { entries, .. }) => Some(entries.as_slice()),
                _ => None,
            })
            .and_then(|r| match get(r, "limits") {
                Some(Node::Map { entries, .. }) => Some(entries.as_slice()),
                _ => None,
            });
        let memory = limits.and_then(|l| get(l, "memory")).or_else(|| get(entries, "mem_limit"));
        let cpus = limits.and_then(|l| get(l, "cpus")).or_else(|| get(entries, "cpus"));
        let mut resources = Vec::new();
        if let Some(n) = memory
            && let Some(s) = im.text(n, "memory")
        {
            let s = s.to_string();
            if s.contains('$') {
                if let Some(t) = im.interpolate(&s, n.text_pos(), Use::Number) {
                    // `${MEM:-512}m` has no blueprint spelling: the variable must be the value.
                    if t.starts_with("${inputs.") && t.ends_with('}') && t.matches("${").count() == 1 {
                        resources.push(("memory_mb".to_string(), Out::Str(t)));
                        im.note(n.text_pos(), "a memory limit from a variable is read in MB");
                    } else {
                        im.err(n.text_pos(), format!("memory `{s}`: a variable must be the whole value (a number of MB)"));
                    }
                }
            } else {
                match size_mb(&s) {
                    Some(mb) => resources.push(("memory_mb".to_string(), Out::Int(mb))),
                    None => im.err(n.text_pos(), format!("memory `{s}` is not a size such as 512m or 1g")),
                }
            }
        }
        if let Some(n) = cpus
            && let Some(s) = im.text(n, "cpus")
        {
            let s = s.to_string();
            if s.contains('$') {
                if let Some(t) = im.interpolate(&s, n.text_pos(), Use::Decimal) {
                    resources.push(("cpus".to_string(), Out::Str(t)));
                }
            } else {
                match s.trim().parse::<f64>() {
                    Ok(f) if f > 0.0 && f.is_finite() => resources.push(("cpus".to_string(), Out::Str(format!("{f}")))),
                    _ => im.err(n.text_pos(), format!("cpus `{s}` is not a number of CPUs")),
                }
            }
        }
        if !resources.is_empty() {
            c.push(("resources".into(), Out::Map(resources)));
        }
        if let Some(d) = deploy {
            for (dk, dv) in d {
                match dk.name.as_str() {
                    "replicas" => {
                        if let Some(s) = im.text(dv, "replicas") {
                            let s = s.to_string();
                            if let Some(t) = im.interpolate(&s, dv.text_pos(), Use::Number) {
                                c.push(("replicas".into(), Out::Str(t)));
                            }
                        }
                    }
                    "resources" => {
                        if let Node::Map { entries: r, .. } = dv
                            && let Some((rk, _)) = r.iter().find(|(rk, _)| rk.name == "reservations")
                        {
                            im.note(rk.pos, "reservations are left out: Wharf places and counts by limits");
                        }
                    }
                    "mode" if scalar(dv) != Some("replicated") => im.err(
                        dv.pos(),
                        format!(
                            "`mode: {}` cannot be imported: a component runs a number of replicas, for as long as it lives",
                            scalar(dv).unwrap_or("?")
                        ),
                    ),
                    "mode" => {}
                    "restart_policy" => im.note(dk.pos, "deploy.restart_policy is left out: `restart:` is imported"),
                    other => im.note(dk.pos, format!("deploy.{other} is left out")),
                }
            }
        }
        // depends_on: a list, or a mapping with conditions.
        if let Some(n) = get(entries, "depends_on") {
            let mut deps = Vec::new();
            let listed: Vec<(String, Option<String>, Pos)> = match n {
                Node::Seq { items, .. } => items.iter().filter_map(|i| scalar(i).map(|s| (s.to_string(), None, i.text_pos()))).collect(),
                Node::Map { entries, .. } => entries
                    .iter()
                    .map(|(dk, dv)| {
                        let condition = match dv {
                            Node::Map { entries, .. } => get(entries, "condition").and_then(scalar).map(str::to_string),
                            _ => None,
                        };
                        (dk.name.clone(), condition, dk.pos)
                    })
                    .collect(),
                other => {
                    im.err(other.pos(), "depends_on must be a list or a mapping");
                    Vec::new()
                }
            };
            for (dep, condition, p) in listed {
                match condition.as_deref() {
                    None | Some("service_started") | Some("service_healthy") => {}
                    Some("service_completed_successfully") => {
                        im.err(p, format!("`{dep}`: service_completed_successfully cannot be imported: components keep running (run one-off jobs outside Wharf)"));
                        continue;
                    }
                    Some(other) => {
                        im.err(p, format!("`{dep}`: unknown condition `{other}`"));
                        continue;
                    }
                }
                if condition.as_deref() == Some("service_started") {
                    im.note(p, format!("`{dep}`: Wharf starts a component after those it depends on are running, and healthy when they have a health check"));
                }
                match names.get(&dep) {
                    Some(name) => deps.push(Out::Str(name.clone())),
                    None => im.err(p, format!("depends_on names `{dep}`, which is not a service of this file")),
                }
            }
            if !deps.is_empty() {
                c.push(("depends_on".into(), Out::List(deps)));
            }
        }
        if let Some(Node::Map { entries: h, pos: hpos }) = get(entries, "healthcheck")
            && let Some(health) = im.health(h, *hpos)
        {
            c.push(("health".into(), health));
        }
        if let Some(n) = get(entries, "restart")
            && let Some(s) = im.text(n, "restart")
        {
            let policy = match s {
                "no" | "\"no\"" => Some("no"),
                "always" => Some("always"),
                "unless-stopped" => Some("unless-stopped"),
                s if s == "on-failure" || s.starts_with("on-failure:") => {
                    if s != "on-failure" {
                        im.note(n.text_pos(), "the number of retries of on-failure is left out");
                    }
                    Some("on-failure")
                }
                other => {
                    im.err(n.text_pos(), format!("restart `{other}`: expected no, always, unless-stopped or on-failure"));
                    None
                }
            };
            if let Some(p) = policy {
                c.push(("restart".into(), Out::Str(p.into())));
            }
        }
        for (field, using) in [("working_dir", Use::Text), ("user", Use::Guarded)] {
            if let Some(n) = get(entries, field)
                && let Some(s) = im.text(n, field)
            {
                let s = s.to_string();
                if let Some(t) = im.interpolate(&s, n.text_pos(), using) {
                    c.push((field.into(), Out::Str(t)));
                }
            }
        }
        for field in ["tty", "stdin_open"] {
            if let Some(n) = get(entries, field) {
                match scalar(n) {
                    Some("true") => c.push((field.into(), Out::Bool(true))),
                    Some("false") => {}
                    _ => im.err(n.text_pos(), format!("{field} must be true or false")),
                }
            }
        }
        if let Some(n) = get(entries, "privileged") {
            match scalar(n) {
                Some("false") => {}
                _ => im.err(n.pos(), "`privileged` cannot be imported: it needs a trusted blueprint, which an admin writes by hand"),
            }
        }
        if let Some(n) = get(entries, "network_mode")
            && let Some(mode) = scalar(n)
        {
            match mode {
                "bridge" | "default" => {
                    im.note(n.pos(), "network_mode is left out: every component joins the deployment's private network")
                }
                "host" => im.err(n.pos(), "`network_mode: host` cannot be imported: host networking needs a trusted blueprint"),
                "none" => c.push(("network_mode".into(), Out::Str("none".into()))),
                other => im.err(n.pos(), format!("`network_mode: {other}` cannot be imported: components share the deployment's network")),
            }
        }
        components.push((component, Out::Map(c)));
    }
    for (v, at) in &declared_volumes {
        if !volumes_used.contains_key(&v.to_ascii_lowercase().replace(['_', '.'], "-")) {
            im.note(*at, format!("volume `{v}` is declared but no service uses it; left out"));
        }
    }
    // Two Compose volumes that become one name would be shared without anyone asking.
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (v, at) in &declared_volumes {
        let name = v.to_ascii_lowercase().replace(['_', '.'], "-");
        if let Some(first) = seen.insert(name.clone(), v) {
            im.err(*at, format!("volumes `{first}` and `{v}` would both become `{name}`: rename one"));
        }
    }

    // Inputs, typed by their defaults and by where they are used.
    let mut inputs = Vec::new();
    let vars = std::mem::take(&mut im.vars);
    for (key, v) in &vars {
        let number = v.uses.contains(&Use::Number);
        let decimal = v.uses.contains(&Use::Decimal);
        let guarded = v.uses.contains(&Use::Guarded);
        let secret = looks_secret(key) || im.secrets.contains(key);
        let (kind, default): (&str, Option<Out>) = match v.default.as_deref() {
            // A secret's default would sit in the draft in clear: requesters give it.
            _ if secret && !number && !decimal => ("string", None),
            Some(d) if decimal => match d.parse::<f64>() {
                Ok(f) if f > 0.0 && f.is_finite() => ("string", Some(Out::Str(d.to_string()))),
                _ => {
                    im.err(v.pos, format!("`{key}` gives a number of CPUs here, but its default `{d}` is not one"));
                    continue;
                }
            },
            None if decimal => ("string", None),
            Some(d) if d.parse::<i64>().is_ok() => ("integer", d.parse::<i64>().ok().map(Out::Int)),
            Some(d @ ("true" | "false")) if !number => ("boolean", Some(Out::Bool(d == "true"))),
            Some(d) if number => {
                im.err(v.pos, format!("`{key}` gives a number here, but its default `{d}` is not a whole number"));
                continue;
            }
            Some(d) => ("string", Some(Out::Str(d.to_string()))),
            None if number => ("integer", None),
            None => ("string", None),
        };
        let mut spec = vec![("type".to_string(), Out::Str(kind.into())), ("title".to_string(), Out::Str(key.to_ascii_uppercase()))];
        if let Some(d) = default.as_ref() {
            spec.push(("default".into(), clone_scalar(d)));
        }
        let upper = key.to_ascii_uppercase();
        if secret && kind == "string" {
            spec.push(("secret".into(), Out::Bool(true)));
            let default = if v.default.is_some() { "; its default is left out of the draft, so requesters give it" } else { "" };
            im.note(v.pos, format!("`{upper}` becomes a secret input (sealed, never shown back){default}"));
        }
        if decimal {
            spec.push(("pattern".into(), Out::Str(r"^[0-9]{1,3}(\.[0-9]{1,3})?$".into())));
        }
        // A tag may not turn into another repository or a digest.
        if im.tags.contains(key) && v.uses.iter().all(|u| *u == Use::Image) && kind == "string" {
            spec.push(("pattern".into(), Out::Str("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$".into())));
        }
        // Where a free value could reach past the container (a shell script, a user), the input
        // is an enum of its default; an image's tag is bounded by allowed_images.
        if guarded && kind == "string" {
            match &v.default {
                Some(d) => {
                    spec.push(("enum".into(), Out::List(vec![Out::Str(d.clone())])));
                    im.note(v.pos, format!("`{upper}` reaches a shell script or a user: it becomes a choice of its default only (add the values it may take)"));
                }
                None => im.err(
                    v.pos,
                    format!(
                        "`{upper}` reaches a shell script or a user without a default: give it one (`${{{upper}:-value}}`) or take it out"
                    ),
                ),
            }
        }
        if v.required && v.default.is_none() {
            im.note(v.pos, format!("`{upper}` has no default: requesters must give it"));
        }
        inputs.push((key.clone(), Out::Map(spec)));
    }

    let name_raw = get(top, "name").and_then(scalar).map(str::to_string);
    let id_raw = id.map(str::to_string).or_else(|| name_raw.clone()).unwrap_or_else(|| fallback.to_string());
    let blueprint_id = id_raw.to_ascii_lowercase().replace(['_', '.', ' '], "-");
    if let Err(e) = Slug::parse_blueprint_id(&blueprint_id) {
        im.err(*top_pos, format!("the blueprint's id {e} (give one)"));
    }
    if !im.errors.is_empty() {
        let mut errors = im.errors;
        errors.sort_by_key(|e| (e.line, e.column));
        return Err(errors);
    }

    let mut doc = vec![
        ("id".to_string(), Out::Str(blueprint_id.clone())),
        ("name".to_string(), Out::Str(name_raw.unwrap_or_else(|| blueprint_id.clone()))),
        ("description".to_string(), Out::Str(format!("Imported from a Compose file ({fallback})"))),
        ("category".to_string(), Out::Str("Imported".into())),
        ("version".to_string(), Out::Int(1)),
    ];
    if !im.allowed.is_empty() {
        // The images the file names itself are allowed too (a list holds for every image).
        let mut allowed = im.allowed.clone();
        for r in &im.literal_images {
            if !allowed.contains(r) {
                allowed.push(r.clone());
            }
        }
        doc.push(("allowed_images".into(), Out::List(allowed.into_iter().map(Out::Str).collect())));
    }
    if !inputs.is_empty() {
        doc.push(("inputs".into(), Out::Map(inputs)));
    }
    doc.push(("components".into(), Out::Map(components)));
    let mut notes = im.notes;
    notes.sort_by_key(|e| (e.line, e.column));
    let mut source =
        format!("# A blueprint draft converted by Wharf from the Compose file {}: review it before publishing.\n", quoted(fallback));
    for n in &notes {
        source.push_str(&format!("# left out or changed (line {}, column {}): {}\n", n.line, n.column, n.message.replace('\n', " ")));
    }
    source.push_str(&yaml(&Out::Map(doc)));
    // The draft is a blueprint like any other: every rule and guardrail applies.
    if let Err(errors) = super::parse(&source) {
        return Err(errors
            .into_iter()
            .map(|e| BlueprintError { line: 0, column: 0, message: format!("the converted draft, line {}: {}", e.line, e.message) })
            .collect());
    }
    Ok(Imported { source, notes })
}

fn clone_scalar(n: &Out) -> Out {
    match n {
        Out::Str(s) => Out::Str(s.clone()),
        Out::Int(i) => Out::Int(*i),
        Out::Bool(b) => Out::Bool(*b),
        Out::List(_) | Out::Map(_) => Out::Str(String::new()),
    }
}

/// The most ports one service may publish (ranges counted port by port).
const MAX_PORTS: usize = 200;

/// The keys of a service Wharf reads (others are notes or errors).
const KNOWN: &[&str] = &[
    "image",
    "command",
    "entrypoint",
    "environment",
    "ports",
    "volumes",
    "depends_on",
    "healthcheck",
    "restart",
    "deploy",
    "mem_limit",
    "cpus",
    "working_dir",
    "user",
    "tty",
    "stdin_open",
    "privileged",
    "network_mode",
];

impl Importer {
    /// One entry of `ports:`, short (`[IP:][HOST:]CONTAINER[/PROTO]`, ranges allowed) or long.
    fn port(&mut self, item: &Node, service: &str) -> Vec<Out> {
        let (host_ip, host, container, protocol, pos) = match item {
            Node::Scalar { value, .. } => {
                let pos = item.text_pos();
                let (spec, protocol) = value.rsplit_once('/').map_or((value.as_str(), "tcp"), |(s, p)| (s, p));
                let parts = split_outside_variables(spec);
                // CONTAINER, HOST:CONTAINER, or IP:HOST:CONTAINER (an IPv6 address holds colons).
                let n = parts.len();
                let container = parts[n - 1].to_string();
                let host = (n >= 2).then(|| parts[n - 2].to_string()).filter(|h| !h.is_empty());
                let ip = (n >= 3).then(|| parts[..n - 2].join(":"));
                (ip, host, container, protocol.to_string(), pos)
            }
            Node::Map { entries, pos } => {
                let s = |k: &str| get(entries, k).and_then(scalar).map(str::to_string);
                if let Some((k, _)) = entries.iter().find(|(k, _)| {
                    !["target", "published", "protocol", "host_ip", "mode", "name", "app_protocol"].contains(&k.name.as_str())
                }) {
                    self.note(k.pos, format!("port option `{}` is left out", k.name));
                }
                (s("host_ip"), s("published"), s("target").unwrap_or_default(), s("protocol").unwrap_or_else(|| "tcp".into()), *pos)
            }
            Node::Seq { pos, .. } => {
                self.err(*pos, format!("a port of `{service}` must be a value or a mapping"));
                return Vec::new();
            }
        };
        if let Some(ip) = host_ip.filter(|ip| !ip.is_empty()) {
            self.note(pos, format!("the host address `{ip}` is left out: ports bind to the host's address in Wharf"));
        }
        if !matches!(protocol.as_str(), "tcp" | "udp") {
            self.err(pos, format!("protocol `{protocol}`: tcp or udp"));
            return Vec::new();
        }
        let one = |container: Out, host: Option<Out>| {
            let mut p = vec![("container".to_string(), container)];
            if let Some(h) = host {
                p.push(("host".into(), h));
            }
            if protocol == "udp" {
                p.push(("protocol".into(), Out::Str("udp".into())));
            }
            Out::Map(p)
        };
        // A variable gives a whole port.
        if container.contains('$') || host.as_deref().is_some_and(|h| h.contains('$')) {
            let container = if container.contains('$') {
                match self.interpolate(&container, pos, Use::Number) {
                    Some(t) => Out::Str(t),
                    None => return Vec::new(),
                }
            } else {
                match container.parse::<u16>() {
                    Ok(n) if n > 0 => Out::Int(i64::from(n)),
                    _ => {
                        self.err(pos, format!("`{container}` is not a container port"));
                        return Vec::new();
                    }
                }
            };
            let host = match host {
                Some(h) if h.contains('$') => match self.interpolate(&h, pos, Use::Number) {
                    Some(t) => Some(Out::Str(t)),
                    None => return Vec::new(),
                },
                Some(h) => match h.parse::<u16>() {
                    Ok(n) if n > 0 => Some(Out::Int(i64::from(n))),
                    _ => {
                        self.err(pos, format!("`{h}` is not a host port"));
                        return Vec::new();
                    }
                },
                None => None,
            };
            return vec![one(container, host)];
        }
        let Some((c0, c1)) = port_range(&container) else {
            self.err(pos, format!("`{container}` is not a container port or range (1 to 65535)"));
            return Vec::new();
        };
        let host_range = match host.as_deref().map(port_range) {
            None => None,
            Some(Some(r)) => Some(r),
            Some(None) => {
                self.err(pos, format!("`{}` is not a host port or range (1 to 65535)", host.unwrap_or_default()));
                return Vec::new();
            }
        };
        if let Some((h0, h1)) = host_range
            && h1 - h0 != c1 - c0
        {
            if h1 - h0 > 0 && c1 == c0 {
                self.note(pos, format!("a host range for one container port: the first host port ({h0}) is used"));
            } else {
                self.err(pos, format!("the host range {h0}-{h1} and the container range {c0}-{c1} differ in size"));
                return Vec::new();
            }
        }
        (c0..=c1)
            .map(|c| {
                let host = host_range.map(|(h0, _)| Out::Int(i64::from(h0) + i64::from(c - c0)));
                one(Out::Int(i64::from(c)), host)
            })
            .collect()
    }

    /// One entry of `volumes:`: a named volume (name, target, read only). Host paths, tmpfs
    /// and the like are errors; an anonymous volume becomes a named one.
    fn volume(&mut self, item: &Node, component: &str, index: usize) -> Option<(String, String, bool)> {
        let (kind, source, target, read_only, pos) = match item {
            Node::Scalar { value, .. } => {
                let parts: Vec<&str> = split_outside_variables(value);
                let (source, target, mode) = match parts.as_slice() {
                    [t] => (None, *t, None),
                    [s, t] => (Some(*s), *t, None),
                    [s, t, m] => (Some(*s), *t, Some(*m)),
                    _ => {
                        self.err(item.text_pos(), format!("`{value}` is not SOURCE:TARGET[:MODE]"));
                        return None;
                    }
                };
                let kind = match source {
                    Some(s) if s.starts_with(['/', '.', '~']) || s.contains('$') => "bind",
                    _ => "volume",
                };
                let read_only = mode.is_some_and(|m| m.split(',').any(|x| x == "ro"));
                (kind.to_string(), source.map(str::to_string), target.to_string(), read_only, item.text_pos())
            }
            Node::Map { entries, pos } => {
                let s = |k: &str| get(entries, k).and_then(scalar).map(str::to_string);
                (
                    s("type").unwrap_or_else(|| "volume".into()),
                    s("source"),
                    s("target").unwrap_or_default(),
                    s("read_only").as_deref() == Some("true"),
                    *pos,
                )
            }
            Node::Seq { pos, .. } => {
                self.err(*pos, "a volume must be a value or a mapping");
                return None;
            }
        };
        match kind.as_str() {
            "volume" => {}
            "bind" => {
                self.err(
                    pos,
                    format!(
                        "the host path `{}` cannot be imported: host bind mounts need a trusted blueprint (use a named volume)",
                        source.unwrap_or_default()
                    ),
                );
                return None;
            }
            other => {
                self.err(pos, format!("a `{other}` mount cannot be imported: named volumes only"));
                return None;
            }
        }
        if !target.starts_with('/') {
            self.err(pos, format!("the volume target `{target}` must be an absolute path"));
            return None;
        }
        let target = self.interpolate(&target, pos, Use::Text)?;
        let name = match source {
            Some(s) => {
                let n = s.to_ascii_lowercase().replace(['_', '.'], "-");
                if n != s {
                    self.note(pos, format!("volume `{s}` becomes `{n}` (volume names are a-z, 0-9 and '-')"));
                }
                n
            }
            None => {
                let n = format!("{component}-data-{}", index + 1);
                self.note(pos, format!("the anonymous volume at `{target}` becomes the named volume `{n}`, owned by the deployment"));
                n
            }
        };
        if ComponentName::parse(&name).is_err() {
            self.err(pos, format!("volume name `{name}`: 1 to 40 characters of a-z, 0-9 and '-'"));
            return None;
        }
        Some((name, target, read_only))
    }

    fn health(&mut self, h: &[(Key, Node)], pos: Pos) -> Option<Out> {
        if get(h, "disable").and_then(scalar) == Some("true") {
            return None;
        }
        let Some(test) = get(h, "test") else {
            self.note(pos, "a healthcheck without `test:` is left out (the image's own check, if any, still runs)");
            return None;
        };
        let cmd: Vec<(String, Pos)> = match test {
            Node::Scalar { value, .. } => vec![("/bin/sh".into(), test.pos()), ("-c".into(), test.pos()), (value.clone(), test.text_pos())],
            Node::Seq { items, .. } => {
                let words: Vec<(String, Pos)> = items.iter().filter_map(|i| scalar(i).map(|s| (s.to_string(), i.text_pos()))).collect();
                match words.first().map(|(w, _)| w.as_str()) {
                    Some("NONE") => return None,
                    Some("CMD") => words[1..].to_vec(),
                    Some("CMD-SHELL") if words.len() == 2 => {
                        vec![("/bin/sh".into(), words[1].1), ("-c".into(), words[1].1), words[1].clone()]
                    }
                    _ => {
                        self.err(test.pos(), "healthcheck.test: [\"CMD\", …], [\"CMD-SHELL\", \"…\"], [\"NONE\"] or a string");
                        return None;
                    }
                }
            }
            Node::Map { pos, .. } => {
                self.err(*pos, "healthcheck.test must be a list or a string");
                return None;
            }
        };
        if cmd.is_empty() {
            self.err(pos, "healthcheck.test names no command");
            return None;
        }
        // The words that decide what runs (the program, an interpreter's options and script) are
        // bounded, as in the command line.
        let roles = super::parser::roles(&cmd.iter().map(|(w, _)| as_word(w)).collect::<Vec<_>>());
        let mut list = Vec::new();
        for (i, (w, p)) in cmd.iter().enumerate() {
            let guarded = roles.program == Some(i) || roles.script == Some(i) || roles.options.contains(&i);
            let using = if guarded { Use::Guarded } else { Use::Text };
            list.push(Out::Str(self.interpolate(w, *p, using)?));
        }
        let mut out = vec![("cmd".to_string(), Out::List(list))];
        for (from, to) in [("interval", "interval_s"), ("timeout", "timeout_s"), ("start_period", "start_period_s")] {
            if let Some(n) = get(h, from)
                && let Some(s) = scalar(n)
            {
                match duration_secs(s) {
                    Some(secs) => {
                        if from == "interval" && secs > 30 {
                            self.note(
                                n.text_pos(),
                                format!("an interval of {secs} s: Wharf waits for a component's first check to pass when it starts it, so the deployment waits that long (and fails past the health timeout)"),
                            );
                        }
                        if secs > 3600 {
                            self.note(
                                n.text_pos(),
                                format!("healthcheck.{from} of {secs} s becomes 3600 s, the longest a blueprint takes"),
                            );
                        }
                        out.push((to.into(), Out::Int(i64::from(secs.clamp(1, 3600)))))
                    }
                    None => self.err(n.text_pos(), format!("healthcheck.{from} `{s}` is not a duration such as 10s or 1m30s")),
                }
            }
        }
        if let Some(n) = get(h, "retries")
            && let Some(s) = scalar(n)
        {
            match s.parse::<i64>() {
                Ok(r) if r >= 1 => {
                    if r > 1000 {
                        self.note(n.text_pos(), "healthcheck.retries becomes 1000, the most a blueprint takes");
                    }
                    out.push(("retries".into(), Out::Int(r.min(1000))))
                }
                _ => self.err(n.text_pos(), format!("healthcheck.retries `{s}` is not a positive number")),
            }
        }
        if let Some((k, _)) = h.iter().find(|(k, _)| k.name == "start_interval") {
            self.note(k.pos, "healthcheck.start_interval is left out");
        }
        Some(Out::Map(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/compose/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap().replace("{{image}}", "wharf-test/busybox:latest")
    }

    fn draft(name: &str) -> (super::super::Blueprint, Imported) {
        let imported = import(&fixture(name), None, name.trim_end_matches(".yaml")).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        (super::super::parse(&imported.source).unwrap(), imported)
    }

    #[test]
    fn words_split_as_a_shell_would() {
        assert_eq!(split_words("httpd -f -p 8080").unwrap(), ["httpd", "-f", "-p", "8080"]);
        assert_eq!(split_words(r#"sh -c "echo 'a b' \"c\"""#).unwrap(), ["sh", "-c", "echo 'a b' \"c\""]);
        assert_eq!(split_words("a\\ b 'c d' \"\"").unwrap(), ["a b", "c d", ""]);
        assert!(split_words("echo 'open").is_err());
    }

    #[test]
    fn durations_and_sizes_are_read() {
        assert_eq!(duration_secs("1m30s"), Some(90));
        assert_eq!(duration_secs("500ms"), Some(1));
        assert_eq!(duration_secs("2h"), Some(7200));
        assert_eq!(duration_secs("soon"), None);
        assert_eq!(size_mb("64M"), Some(64));
        assert_eq!(size_mb("1g"), Some(1024));
        assert_eq!(size_mb("1.5GB"), Some(1536));
        assert_eq!(size_mb("268435456"), Some(256));
        assert_eq!(size_mb("lots"), None);
    }

    #[test]
    fn web_and_database() {
        let (bp, imported) = draft("web-db.yaml");
        assert_eq!(bp.id, "shop");
        let web = bp.component("web").unwrap();
        assert_eq!(web.depends_on.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(), ["db"]);
        assert_eq!(web.ports.len(), 1);
        let db = bp.component("db").unwrap();
        assert!(db.health.as_ref().is_some_and(|h| h.interval_s == 1 && h.retries == 30 && h.timeout_s == 2));
        assert!(matches!(&db.volumes[0], crate::domain::blueprint::types::VolumeSpec::Named { name, .. } if name == "db-data"));
        let password = bp.input("db_password").unwrap();
        assert!(password.secret && password.default.is_none(), "{password:?}");
        assert_eq!(bp.input("greeting").unwrap().default.as_ref().map(|d| d.render()), Some("hello".into()));
        // A literal `$${` of the shell script stays literal.
        let script = web.command.as_ref().unwrap()[2].as_literal().unwrap();
        assert!(script.starts_with("echo \"${GREETING:-} from web\""), "{script}");
        assert!(imported.notes.iter().any(|n| n.message.contains("db_data")), "{:?}", imported.notes);
    }

    #[test]
    fn queue_and_workers() {
        let (bp, imported) = draft("queue-workers.yaml");
        let worker = bp.component("worker").unwrap();
        assert!(matches!(&worker.replicas, crate::domain::blueprint::types::IntField::Tmpl(_)));
        assert_eq!(bp.input("workers").unwrap().kind, crate::domain::blueprint::InputType::Integer);
        assert_eq!(bp.input("concurrency").unwrap().kind, crate::domain::blueprint::InputType::Integer);
        assert!(matches!(worker.memory_mb, Some(crate::domain::blueprint::types::IntField::Literal(64, _))));
        assert_eq!(worker.restart, crate::domain::blueprint::types::RestartPolicy::OnFailure);
        assert!(imported.notes.iter().any(|n| n.message.contains("reservations")));
        assert!(imported.notes.iter().any(|n| n.message.contains("retries of on-failure")));
    }

    #[test]
    fn three_tiers_and_renamed_services() {
        let (bp, imported) = draft("three-tier.yaml");
        assert!(bp.component("front-end").is_some());
        let api = bp.component("api").unwrap();
        assert_eq!(api.entrypoint.as_ref().unwrap().len(), 2);
        assert!(api.env.iter().any(|(k, _)| k == "DATABASE_URL"));
        let db = bp.component("db").unwrap();
        assert!(matches!(db.memory_mb, Some(crate::domain::blueprint::types::IntField::Literal(128, _))));
        assert!(imported.notes.iter().any(|n| n.line == 2 && n.message.contains("`version` is obsolete")), "{:?}", imported.notes);
        assert!(imported.notes.iter().any(|n| n.message.contains("container_name") && n.line == 10), "{:?}", imported.notes);
        assert!(imported.notes.iter().any(|n| n.message.contains("becomes component `front-end`")));
    }

    #[test]
    fn health_conditions() {
        let (bp, imported) = draft("healthcheck-conditions.yaml");
        assert_eq!(bp.component("app").unwrap().depends_on.len(), 2);
        let cache = bp.component("cache").unwrap().health.as_ref().unwrap();
        assert_eq!(cache.interval_s, 2);
        let slow = import(
            "services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1m30s\n",
            Some("abc"),
            "x",
        )
        .unwrap();
        assert!(slow.source.contains("\"interval_s\": 90"), "{}", slow.source);
        assert!(slow.notes.iter().any(|n| n.line == 6 && n.message.contains("first check")), "{:?}", slow.notes);
        assert!(imported.notes.iter().any(|n| n.message.contains("service_started") || n.message.contains("are running")));
    }

    #[test]
    fn environment_defaults_become_typed_inputs() {
        let (bp, _) = draft("env-defaults.yaml");
        use crate::domain::blueprint::InputType::*;
        let kind = |n: &str| bp.input(n).unwrap().kind;
        assert_eq!(
            (kind("greeting"), kind("debug"), kind("port"), kind("owner_name"), kind("api_token")),
            (String, Boolean, Integer, String, String)
        );
        assert!(bp.input("api_token").unwrap().secret);
        assert_eq!(bp.input("region").unwrap().default.as_ref().map(|d| d.render()), Some("eu-west".into()));
        let env = &bp.component("app").unwrap().env;
        let price = env.iter().find(|(k, _)| k == "PRICE").unwrap();
        assert_eq!(price.1.as_literal().as_deref(), Some("$5"));
    }

    #[test]
    fn named_volumes_and_ports() {
        let (bp, imported) = draft("named-volumes.yaml");
        assert_eq!(bp.component("app").unwrap().volumes.len(), 4);
        assert!(imported.notes.iter().any(|n| n.message.contains("anonymous volume")));
        assert!(imported.notes.iter().any(|n| n.message.contains("`unused`") && n.line == 26), "{:?}", imported.notes);
        let (bp, imported) = draft("port-ranges.yaml");
        assert_eq!(bp.component("edge").unwrap().ports.len(), 5);
        assert!(imported.notes.iter().any(|n| n.message.contains("host address")));
        let compose = "services:\n  web:\n    image: busybox\n    ports: [\"127.0.0.1:18080-18081:80-81\", \"${WEB_PORT:-8080}:8000\"]\n";
        let imported = import(compose, Some("ports"), "x").unwrap();
        assert!(imported.source.contains("\"host\": 18081") && imported.source.contains("\"container\": 81"), "{}", imported.source);
        assert!(imported.source.contains("\"host\": \"${inputs.web_port}\""), "{}", imported.source);
    }

    #[test]
    fn a_variable_tag_is_allowed_by_its_repository() {
        let (bp, _) = draft("tagged-image.yaml");
        assert!(bp.allowed_images.allows("wharf-test/busybox:1"));
        assert!(!bp.allowed_images.allows("evil/busybox:1"));
        let err = import("services:\n  a:\n    image: ${IMAGE}\n", Some("abc"), "x").unwrap_err();
        assert!(err[0].message.contains("not the repository"), "{err:?}");
    }

    #[test]
    fn what_cannot_be_mapped_is_reported_where_it_is() {
        let errors = import(&fixture("unsupported.yaml"), None, "unsupported").unwrap_err();
        let at: Vec<(usize, usize, &str)> = errors.iter().map(|e| (e.line, e.column, e.message.as_str())).collect();
        let has = |line: usize, word: &str| at.iter().any(|(l, _, m)| *l == line && m.contains(word));
        assert!(has(4, "`build`"), "{at:?}");
        assert!(has(7, "network_mode: host"), "{at:?}");
        assert!(has(10, "privileged"), "{at:?}");
        assert!(has(14, "./data"), "{at:?}");
        assert!(has(16, "`extends`"), "{at:?}");
        assert!(has(22, "env_file"), "{at:?}");
        assert!(at.iter().all(|(_, c, _)| *c > 0));
    }

    #[test]
    fn hostile_files_cannot_change_the_draft_or_its_guardrails() {
        // A carriage return in a key would end the comment line the note is written on.
        let sneaky = "services:\n  a:\n    image: busybox\n    \"x\\rtrusted: true\\r#\": 1\n";
        let imported = import(sneaky, Some("abc"), "x").unwrap();
        assert!(!imported.source.lines().any(|l| l.trim_start().starts_with("trusted")), "{}", imported.source);
        assert!(!super::super::parse(&imported.source).unwrap().trusted);
        assert!(!imported.source.contains('\r'));
        // A variable as the program, or in a shell's script through the entrypoint, is bounded.
        let program = import("services:\n  a:\n    image: busybox\n    command: \"${A:-sleep} ${B:-1}\"\n", Some("abc"), "x").unwrap();
        let bp = super::super::parse(&program.source).unwrap();
        assert!(bp.input("a").unwrap().choices.is_some(), "{}", program.source);
        let script =
            "services:\n  a:\n    image: busybox\n    entrypoint: [\"/bin/sh\", \"-c\"]\n    command: [\"echo ${MSG:-hello world}\"]\n";
        let bp = super::super::parse(&import(script, Some("abc"), "x").unwrap().source).unwrap();
        assert!(bp.input("msg").unwrap().choices.is_some());
        // So is a variable among an interpreter's options (it could be `-c`), behind a wrapper
        // too, and the script of `python -c`.
        let options =
            "services:\n  a:\n    image: busybox\n    command: [\"tini\", \"--\", \"sh\", \"${FLAG:--e}\", \"/run.sh\", \"${ARG:-x}\"]\n";
        let bp = super::super::parse(&import(options, Some("abc"), "x").unwrap().source).unwrap();
        assert!(bp.input("flag").unwrap().choices.is_some() && bp.input("arg").unwrap().choices.is_none());
        let python = "services:\n  a:\n    image: busybox\n    command: [\"python3\", \"-c\", \"print('${MSG:-hi}')\"]\n";
        let bp = super::super::parse(&import(python, Some("abc"), "x").unwrap().source).unwrap();
        assert!(bp.input("msg").unwrap().choices.is_some());
        // The health check's words too: its program and a script after grouped flags.
        let health =
            "services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"bash\", \"-ec\", \"test -n ${PROBE:-x}\"]\n";
        let bp = super::super::parse(&import(health, Some("abc"), "x").unwrap().source).unwrap();
        assert!(bp.input("probe").unwrap().choices.is_some());
        let program = "services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [\"CMD\", \"${CHECK:-/bin/probe}\"]\n";
        let bp = super::super::parse(&import(program, Some("abc"), "x").unwrap().source).unwrap();
        assert!(bp.input("check").unwrap().choices.is_some());
        // A literal `$` right before a variable has no blueprint spelling.
        let e = import("services:\n  a:\n    image: busybox\n    environment: { P: \"$$${X:-1}\" }\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("literal `$` right before a variable"), "{e:?}");
        // Names that collide, and ranges that would not end.
        let e = import("services:\n  web_app:\n    image: busybox\n  web-app:\n    image: busybox\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("would both become component `web-app`"), "{e:?}");
        let e = import(
            "services:\n  a:\n    image: busybox\n    volumes: [\"db_data:/a\", \"db-data:/b\"]\nvolumes:\n  db_data:\n  db-data:\n",
            Some("abc"),
            "x",
        )
        .unwrap_err();
        assert!(e[0].message.contains("would both become `db-data`"), "{e:?}");
        let many: String = (0..300).map(|i| format!("\"{}-{}\",", 10000 + i * 100, 10000 + i * 100 + 99)).collect();
        let e = import(&format!("services:\n  a:\n    image: busybox\n    ports: [{}]\n", many.trim_end_matches(',')), Some("abc"), "x")
            .unwrap_err();
        assert!(e[0].message.contains("more than 200 ports"), "{e:?}");
    }

    #[test]
    fn secrets_tags_and_numbers_are_typed_safely() {
        let compose = "services:\n  app:\n    image: registry.local:5000/app:${TAG:-1.0}\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASS:-example}\n      API_TOKEN: literal-value\n    cpus: ${CPUS:-0.5}\n  db:\n    image: postgres:16\n";
        let imported = import(compose, Some("abc"), "x").unwrap();
        let bp = super::super::parse(&imported.source).unwrap();
        let pass = bp.input("db_pass").unwrap();
        assert!(pass.secret && pass.default.is_none(), "the secret's default is not in the draft: {pass:?}");
        assert!(!imported.source.contains("example"));
        assert!(imported.notes.iter().any(|n| n.message.contains("`API_TOKEN` holds a literal value")), "{:?}", imported.notes);
        // Every image of the file is allowed; the tag input cannot name another repository.
        assert!(
            bp.allowed_images.allows("registry.local:5000/app:2") && bp.allowed_images.allows("postgres:16"),
            "{:?}",
            bp.allowed_images
        );
        let tag = bp.input("tag").unwrap();
        assert!(tag.pattern.as_ref().is_some_and(|p| !p.is_match("5000/evil/x") && p.is_match("1.2.3")), "{tag:?}");
        assert_eq!(bp.input("cpus").unwrap().kind, crate::domain::blueprint::InputType::String);
        let e = import("services:\n  a:\n    image: busybox\n    mem_limit: ${MEM:-512}m\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("whole value"), "{e:?}");
        let e = import("services:\n  a:\n    image: busybox\n    deploy: { mode: replicated-job }\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("replicated-job"), "{e:?}");
    }

    #[test]
    fn bad_compose_files_say_what_and_where() {
        assert!(import("just text", None, "x").unwrap_err()[0].message.contains("mapping"));
        assert!(import("services: {}\n", None, "x").unwrap_err()[0].message.contains("empty"));
        assert!(import("services:\n  a:\n    command: [sleep]\n", Some("abc"), "x").unwrap_err()[0].message.contains("no `image:`"));
        let e = import("services:\n  a:\n    image: busybox\n    depends_on: [b]\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("not a service"), "{e:?}");
        let e = import("services:\n  a:\n    image: busybox\n    command: sh -c \"echo ${WHO}\"\n", Some("abc"), "x").unwrap_err();
        assert!(e[0].message.contains("without a default"), "{e:?}");
        let ok = import("services:\n  a:\n    image: busybox\n    command: sh -c \"echo ${WHO:-me}\"\n", Some("abc"), "x").unwrap();
        assert!(ok.source.contains("\"enum\""), "{}", ok.source);
    }
}
