//! Blueprints: the v1 YAML format (BLUEPRINTS.md), parsed into types with every rule checked,
//! inputs validated, and specs resolved for a deployment.
pub mod compose;
pub mod compose_import;
pub mod guardrails;
mod image;
pub mod inputs;
mod parser;
pub mod resolve;
pub mod template;
pub mod types;
pub mod yaml;

use std::fmt;

pub use image::ImageRef;
use serde::Serialize;
pub use types::{Blueprint, InputSpec, InputType, InputValue};
use yaml::Pos;

/// One problem in a blueprint, with where it is (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlueprintError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl BlueprintError {
    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        Self { line: pos.line, column: pos.column, message: message.into() }
    }
}

impl fmt::Display for BlueprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Parses and checks a blueprint document: every error at once, in file order. The checks
/// that need values (guardrails, ranges) are run again on the spec resolved with the inputs'
/// defaults, so that a blueprint that could never deploy is refused at import.
pub fn parse(source: &str) -> Result<Blueprint, Vec<BlueprintError>> {
    checked(source, true)
}

/// Parses a version Wharf stored when it was published, without the rules on what inputs may
/// reach (judged at its publication: a rule added since does not take a published version,
/// and its deployments' day-2 actions, away). Everything else is checked as by [`parse`].
pub fn parse_stored(source: &str) -> Result<Blueprint, Vec<BlueprintError>> {
    checked(source, false)
}

/// What a version stored before today's rules on inputs would be refused for now (empty: it
/// follows them). New requests and new catalog items need a version that follows them; what
/// was deployed from an older one keeps its day-2 actions.
pub fn input_risks(bp: &Blueprint) -> Vec<BlueprintError> {
    parser::injection_risks(&bp.inputs, &bp.components, !bp.allowed_images.is_empty())
        .into_iter()
        .map(|(pos, message)| BlueprintError { line: pos.line, column: pos.column, message })
        .collect()
}

fn checked(source: &str, publishing: bool) -> Result<Blueprint, Vec<BlueprintError>> {
    let root = yaml::parse(source).map_err(|e| vec![e])?;
    let bp = parser::parse(&root, publishing)?;
    // Values that come from inputs are checked at deploy time; the literal ones can be checked now.
    let mut sample = inputs::InputValues::new();
    let mut complete = true;
    for i in &bp.inputs {
        match (&i.default, i.kind) {
            (Some(v), _) => {
                sample.insert(i.name.clone(), v.clone());
            }
            (None, InputType::Boolean) => {
                sample.insert(i.name.clone(), InputValue::Boolean(false));
            }
            (None, _) if i.generate => {
                sample.insert(i.name.clone(), InputValue::String("generated".into()));
            }
            _ => complete = false,
        }
    }
    if complete {
        let dep = resolve::DeploymentRef { id: "00000000".into(), name: "check".into() };
        resolve::resolve(&bp, &sample, &dep)?;
    } else {
        let errs = resolve::literal_guardrails(&bp);
        if !errs.is_empty() {
            return Err(errs);
        }
    }
    Ok(bp)
}

#[cfg(test)]
mod tests;
