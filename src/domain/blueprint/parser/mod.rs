//! The blueprint v1 parser: every rule of BLUEPRINTS.md is checked here, each failure with
//! line and column. Parsing collects every error, not just the first. The top level and the
//! outputs are here; `inputs` and `components` parse their sections.
mod components;
mod inputs;

use components::parse_components;
use inputs::parse_inputs;
use std::collections::{BTreeSet, HashMap};

use regex::Regex;

use super::template::{self, Ref, Tmpl};
use super::types::*;
use super::yaml::{Key, Node, Pos};
use super::{BlueprintError, ImageRef};
use crate::domain::registry::{AllowedImages, ImagePattern};
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

const TOP: &[&str] = &["id", "name", "description", "category", "version", "trusted", "allowed_images", "inputs", "components", "outputs"];
const INPUT: &[&str] =
    &["type", "title", "description", "default", "min", "max", "min_length", "max_length", "pattern", "enum", "secret", "generate"];
const COMPONENT: &[&str] = &[
    "image",
    "console",
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
pub fn parse(root: &Node, publishing: bool) -> Result<Blueprint, Vec<BlueprintError>> {
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
    let allowed_images = get(top, "allowed_images").map(|n| parse_allowed_images(&mut p, n)).unwrap_or_default();

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
    // What a requester's text may reach is judged when a version is published: a version
    // stored under the rules of its time keeps loading (its deployments keep their day-2
    // actions) when a rule is added.
    if publishing {
        for (pos, msg) in injection_risks(&inputs, &components, !allowed_images.is_empty()) {
            p.err(pos, msg);
        }
    }
    // The images the blueprint names itself must be on its own list.
    for c in &components {
        if let Some(image) = c.image.as_literal()
            && !allowed_images.allows(&image)
        {
            p.err(c.image.pos, allowed_images.refusal(&image, "this blueprint"));
        }
    }

    match (id, name, version) {
        (Some(id), Some(name), Some(version)) if p.errs.is_empty() => {
            Ok(Blueprint { id, name, description, category, version, trusted, allowed_images, inputs, components, outputs })
        }
        _ => {
            p.errs.sort_by_key(|e| (e.line, e.column));
            Err(p.errs)
        }
    }
}

/// `allowed_images`: a list of repository patterns (`domain::registry::ImagePattern`), each
/// error at its own entry.
fn parse_allowed_images(p: &mut P, node: &Node) -> AllowedImages {
    let Some(items) = p.seq(node, "allowed_images") else { return AllowedImages::default() };
    let mut patterns = Vec::new();
    for item in items {
        if let Some(text) = p.scalar(item, "an allowed image pattern") {
            match ImagePattern::parse(&text) {
                Ok(_) => patterns.push(text),
                Err(e) => p.err(item.pos(), e),
            }
        }
    }
    if patterns.is_empty() && !items.is_empty() {
        return AllowedImages::default();
    }
    match AllowedImages::parse(&patterns) {
        Ok(a) => a,
        Err(errors) => {
            for (_, e) in errors {
                p.err(node.pos(), e);
            }
            AllowedImages::default()
        }
    }
}

/// Where a requester's free text could reach past their own container: an image (any
/// registry, pulled by the host) unless the blueprint lists the images it allows, a user, a
/// network mode or a host path take a string input only when it is an enum; a shell script
/// (`sh -c …`) takes one only when it is an enum or has a `pattern` (matched against the whole
/// value). Integer and boolean inputs render as numbers and words, and may go anywhere.
pub(super) fn injection_risks(inputs: &[super::types::InputSpec], components: &[Component], images_listed: bool) -> Vec<(Pos, String)> {
    let free = |n: &str, pattern_ok: bool| {
        inputs.iter().find(|i| i.name == n).is_some_and(|i| {
            let safe_pattern = i.pattern.as_ref().is_some_and(|p| !lets_shell_through(p));
            i.kind == super::types::InputType::String && i.choices.is_none() && !(pattern_ok && safe_pattern)
        })
    };
    let mut out = Vec::new();
    let mut only_enums = |t: &Tmpl, field: &str| {
        for (r, pos) in t.refs_at() {
            if let Ref::Input(n) = r
                && free(n, false)
            {
                out.push((
                    pos,
                    format!("{field} may use `${{inputs.{n}}}` only when `{n}` is an enum: a free value could name any {field}"),
                ));
            }
        }
    };
    for c in components {
        if !images_listed {
            only_enums(&c.image, "image");
        }
        c.user.iter().for_each(|t| only_enums(t, "user"));
        c.network_mode.iter().for_each(|t| only_enums(t, "network mode"));
        for v in &c.volumes {
            if let VolumeSpec::Bind { source, .. } = v {
                only_enums(source, "host path");
            }
        }
    }
    for c in components {
        // The script after `-c` of a shell: in the entrypoint and command, or the health check.
        let line: Vec<&Tmpl> = c.entrypoint.iter().flatten().chain(c.command.iter().flatten()).collect();
        let health: Vec<&Tmpl> = c.health.iter().flat_map(|h| h.cmd.iter()).collect();
        // The program each line runs, and the options of an interpreter (a free `-c` there
        // would make the next word a script), take a string input only when it is an enum.
        for l in [&line, &health] {
            for (t, what) in program_and_options(l) {
                for (r, pos) in t.refs_at() {
                    if let Ref::Input(n) = r
                        && free(n, false)
                    {
                        out.push((pos, format!("{what} may use `${{inputs.{n}}}` only when `{n}` is an enum: a free value could run any program, or make an option like `-c` of it")));
                    }
                }
            }
        }
        for t in [shell_script(&line), shell_script(&health)].into_iter().flatten() {
            for (r, pos) in t.refs_at() {
                if let Ref::Input(n) = r
                    && free(n, true)
                {
                    out.push((
                        pos,
                        format!(
                            "`${{inputs.{n}}}` in a script would run whatever a requester types: give `{n}` an enum, or a pattern that keeps shell syntax out"
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// Programs that run the program named after their own arguments, with their options that
/// take a value as the next word: what they run is judged as the program.
const WRAPPERS: [(&str, &[&str]); 16] = [
    ("env", &["-u", "--unset", "-C", "--chdir", "-S", "--split-string"]),
    ("tini", &["-p", "-e"]),
    ("dumb-init", &["-r", "--rewrite"]),
    ("nice", &["-n", "--adjustment"]),
    ("nohup", &[]),
    ("timeout", &["-s", "--signal", "-k", "--kill-after"]),
    ("setsid", &[]),
    ("stdbuf", &["-i", "-o", "-e"]),
    ("su-exec", &[]),
    ("gosu", &[]),
    ("busybox", &[]),
    ("xargs", &["-I", "-n", "-L", "-s", "-P", "-d", "-E", "-a"]),
    ("ionice", &["-c", "-n", "-p"]),
    ("taskset", &["-c"]),
    ("exec", &["-a"]),
    ("chpst", &["-u", "-U", "-e", "-/", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r", "-t"]),
];

fn basename(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or_default()
}

/// One word of a command line, as far as what runs is concerned.
pub(super) enum Word<'a> {
    Literal(&'a str),
    /// A word with a reference, and the literal text before its first one.
    Reference {
        lead: &'a str,
    },
}

/// Which words of a command line decide what runs.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Roles {
    /// The program, after any wrappers and their own words (options and their values,
    /// `NAME=VALUE`, a number or a duration, the user of `su-exec` and `gosu`).
    pub program: Option<usize>,
    /// Words that hold a reference where an interpreter reads options (a free `-c`, or
    /// `-e${x}` made `-ec`, would make the next word a script; a free value of `node -r`
    /// would load any module), and a wrapper's `env -S` string.
    pub options: Vec<usize>,
    /// The script an interpreter runs: after `sh -c` (and `-ec`, `bash -o pipefail -c`, ...),
    /// `python -c`, `perl -e`, `node -e`, `ruby -e`, `php -r`, `lua -e`; `awk`'s first operand.
    pub script: Option<usize>,
}

/// How an interpreter reads its options: the letters that make the next word its script,
/// those that take a value (the rest of the word, or the next word), those followed by
/// digits only, and its long options that name the script or take a value.
struct Options {
    script: &'static str,
    value: &'static str,
    digits: &'static str,
    long_script: &'static [&'static str],
    long_value: &'static [&'static str],
}

fn options_of(program: &str) -> Option<Options> {
    const SHELLS: [&str; 11] = ["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "pwsh"];
    let w = basename(program);
    let interpreter = w.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    let o = |script, value, digits, long_script, long_value| Some(Options { script, value, digits, long_script, long_value });
    match interpreter {
        _ if SHELLS.contains(&w) => o("c", "oO", "", &["-command", "--command"], &["--rcfile", "--init-file"]),
        "python" => o("c", "WXm", "", &[], &["--check-hash-based-pycs"]),
        "perl" => o("eE", "IMmxCiFdD", "l0", &[], &[]),
        "ruby" => o("e", "IrCEKFxi", "0lW", &[], &["--encoding", "--external-encoding", "--internal-encoding"]),
        "node" => {
            o("ep", "rC", "", &["--eval", "--print"], &["--require", "--import", "--loader", "--experimental-loader", "--conditions"])
        }
        "php" => o("r", "cdfzBRFE", "", &[], &[]),
        "lua" | "luajit" => o("e", "l", "", &[], &[]),
        "Rscript" => o("e", "", "", &[], &[]),
        _ => None,
    }
}

/// What an option word is to its interpreter.
enum Opt {
    /// The next word is the script.
    Script,
    /// The next word is this option's value.
    TakesNext,
    /// Complete in itself.
    Plain,
}

fn read_option(o: &Options, word: &str) -> Opt {
    if word.starts_with("--") || word.eq_ignore_ascii_case("-command") {
        let name = word.split('=').next().unwrap_or_default();
        return if o.long_script.iter().any(|l| l.eq_ignore_ascii_case(name)) {
            Opt::Script
        } else if o.long_value.contains(&name) && !word.contains('=') {
            Opt::TakesNext
        } else {
            Opt::Plain
        };
    }
    let mut letters = word.trim_start_matches(['-', '+']).chars().peekable();
    while let Some(c) = letters.next() {
        if o.script.contains(c) {
            return Opt::Script;
        }
        if o.value.contains(c) {
            return if letters.peek().is_none() { Opt::TakesNext } else { Opt::Plain };
        }
        if o.digits.contains(c) {
            while letters.next_if(char::is_ascii_digit).is_some() {}
        }
    }
    Opt::Plain
}

pub(super) fn roles(line: &[Word]) -> Roles {
    let literal = |i: usize| match line.get(i) {
        Some(Word::Literal(w)) => Some(*w),
        _ => None,
    };
    let mut roles = Roles::default();
    let mut at = 0;
    while let Some((name, takes_value)) =
        literal(at).map(basename).and_then(|n| WRAPPERS.iter().find(|(w, _)| *w == n)).map(|(n, v)| (*n, *v))
    {
        at += 1;
        let mut user = matches!(name, "su-exec" | "gosu");
        loop {
            match line.get(at) {
                Some(Word::Literal(a)) if takes_value.contains(a) => {
                    // `env -S STRING` is a whole command line in one word.
                    if matches!(*a, "-S" | "--split-string") && matches!(line.get(at + 1), Some(Word::Reference { .. })) {
                        roles.options.push(at + 1);
                    }
                    at += 2;
                }
                Some(Word::Literal(a)) if a.starts_with('-') || a.contains('=') || a.starts_with(|c: char| c.is_ascii_digit()) => at += 1,
                Some(Word::Literal(_)) if std::mem::take(&mut user) => at += 1,
                // `NAME=${x}`: a value for the program's environment.
                Some(Word::Reference { lead }) if lead.contains('=') && !lead.starts_with('-') => at += 1,
                _ => break,
            }
        }
    }
    roles.program = (at < line.len()).then_some(at);
    let Some(program) = literal(at) else { return roles };
    if ["awk", "gawk", "mawk", "nawk"].contains(&basename(program)) {
        // Its options (`-F x`, `-v x=y` take a value); with `-f FILE` the script is a file.
        let mut i = at + 1;
        while let Some(a) = literal(i).filter(|a| a.starts_with('-')) {
            match a {
                "--" => {
                    i += 1;
                    break;
                }
                "-f" => return roles,
                "-F" | "-v" => i += 2,
                _ => i += 1,
            }
        }
        roles.script = (i < line.len()).then_some(i);
        return roles;
    }
    let Some(o) = options_of(program) else { return roles };
    let mut i = at + 1;
    while i < line.len() {
        match &line[i] {
            Word::Literal("--") => break,
            Word::Literal(w) if w.starts_with(['-', '+']) => match read_option(&o, w) {
                Opt::Script => {
                    roles.script = (i + 1 < line.len()).then_some(i + 1);
                    break;
                }
                Opt::TakesNext => {
                    if matches!(line.get(i + 1), Some(Word::Reference { .. })) {
                        roles.options.push(i + 1);
                    }
                    i += 1;
                }
                Opt::Plain => {}
            },
            // (`--name=${x}`: only the value is given.)
            Word::Reference { lead } if lead.starts_with("--") && lead.contains('=') => {}
            Word::Reference { lead } if lead.is_empty() || lead.starts_with(['-', '+']) => roles.options.push(i),
            // The first operand (a script's file, or the text of the rest): the options are over.
            _ => break,
        }
        i += 1;
    }
    roles
}

/// A line of templates as words.
fn words<'a>(line: &[&'a Tmpl]) -> Vec<Word<'a>> {
    line.iter()
        .map(|t| match t.segs.as_slice() {
            [template::Seg::Lit(l)] => Word::Literal(l),
            [] => Word::Literal(""),
            [template::Seg::Lit(l), ..] => Word::Reference { lead: l },
            _ => Word::Reference { lead: "" },
        })
        .collect()
}

/// The words of a command line that choose what runs: the program, and an interpreter's
/// options that hold a reference (see [`roles`]).
fn program_and_options<'a>(line: &[&'a Tmpl]) -> Vec<(&'a Tmpl, &'static str)> {
    let r = roles(&words(line));
    let program = r.program.map(|i| (line[i], "the program to run"));
    program.into_iter().chain(r.options.iter().map(|i| (line[*i], "an option of the interpreter"))).collect()
}

/// The script an interpreter runs from its arguments (see [`roles`]).
fn shell_script<'a>(line: &[&'a Tmpl]) -> Option<&'a Tmpl> {
    roles(&words(line)).script.map(|i| line[i])
}

/// Whether a pattern lets shell syntax through (a separator, a substitution, a redirection).
fn lets_shell_through(re: &regex::Regex) -> bool {
    ["a;b", "a&b", "a|b", "$(a)", "`a`", "a>b", "a<b", "a\nb", "${a}", "'a", "\"a"].iter().any(|probe| re.is_match(probe))
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
