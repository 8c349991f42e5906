//! `${...}` references inside blueprint strings.
use std::fmt;

use super::yaml::Pos;

/// What a `${...}` may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Input(String),
    HostAddress,
    DeploymentId,
    DeploymentName,
    /// The host port published for a component's container port.
    ComponentPort {
        component: String,
        port: u16,
    },
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Input(n) => write!(f, "inputs.{n}"),
            Ref::HostAddress => f.write_str("host.address"),
            Ref::DeploymentId => f.write_str("deployment.id"),
            Ref::DeploymentName => f.write_str("deployment.name"),
            Ref::ComponentPort { component, port } => write!(f, "components.{component}.ports.{port}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Lit(String),
    Ref(Ref),
}

/// A string that may hold references, with where it stands in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpl {
    pub segs: Vec<Seg>,
    pub pos: Pos,
    /// Where each reference starts, in the order of `refs()`.
    pub ref_pos: Vec<Pos>,
}

impl Tmpl {
    pub fn literal(s: &str, pos: Pos) -> Self {
        Tmpl { segs: vec![Seg::Lit(s.to_string())], pos, ref_pos: Vec::new() }
    }

    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Ref(r) => Some(r),
            Seg::Lit(_) => None,
        })
    }

    /// Each reference with where it stands.
    pub fn refs_at(&self) -> impl Iterator<Item = (&Ref, Pos)> {
        self.refs().zip(self.ref_pos.iter().copied())
    }

    /// The text when there is no reference at all.
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Ref(_) => return None,
            }
        }
        Some(out)
    }

    /// Replaces each reference with what `value` says; the first error wins.
    pub fn render<E>(&self, mut value: impl FnMut(&Ref) -> Result<String, E>) -> Result<String, E> {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Ref(r) => out.push_str(&value(r)?),
            }
        }
        Ok(out)
    }
}

/// Parses `text` (which starts at `pos`). Errors carry the column of the bad reference when
/// the text is on one line. `$${` is a literal `${`.
pub fn parse(text: &str, pos: Pos) -> Result<Tmpl, (Pos, String)> {
    let mut segs = Vec::new();
    let mut ref_pos = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    let mut offset = 0usize;
    let at = |off: usize| {
        if text[..off].contains('\n') { pos } else { Pos { line: pos.line, column: pos.column + text[..off].chars().count() } }
    };
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            lit.push_str("${");
            offset += i + 3;
            rest = tail;
            continue;
        }
        if let Some(body_and_tail) = after.strip_prefix('{') {
            let Some(end) = body_and_tail.find('}') else {
                return Err((at(offset + i), "`${` without a closing `}`".into()));
            };
            let body = body_and_tail[..end].trim();
            let r = parse_ref(body).map_err(|m| (at(offset + i), m))?;
            if !lit.is_empty() {
                segs.push(Seg::Lit(std::mem::take(&mut lit)));
            }
            segs.push(Seg::Ref(r));
            ref_pos.push(at(offset + i));
            let consumed = i + 2 + end + 1;
            offset += consumed;
            rest = &rest[consumed..];
        } else {
            lit.push('$');
            offset += i + 1;
            rest = after;
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() || segs.is_empty() {
        segs.push(Seg::Lit(lit));
    }
    Ok(Tmpl { segs, pos, ref_pos })
}

fn parse_ref(body: &str) -> Result<Ref, String> {
    let parts: Vec<&str> = body.split('.').collect();
    match parts.as_slice() {
        ["inputs", name] if !name.is_empty() => Ok(Ref::Input(name.to_string())),
        ["host", "address"] => Ok(Ref::HostAddress),
        ["deployment", "id"] => Ok(Ref::DeploymentId),
        ["deployment", "name"] => Ok(Ref::DeploymentName),
        ["components", c, "ports", p] => {
            let port = p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("`${{{body}}}`: `{p}` is not a port number"))?;
            Ok(Ref::ComponentPort { component: c.to_string(), port })
        }
        _ => Err(format!(
            "`${{{body}}}` is not a known reference: use inputs.NAME, host.address, deployment.id, deployment.name or components.NAME.ports.PORT"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Pos = Pos { line: 3, column: 10 };

    #[test]
    fn parses_references_and_literals() {
        let t = parse("http://${host.address}:${components.web.ports.8080}/", P).unwrap();
        assert_eq!(
            t.segs,
            vec![
                Seg::Lit("http://".into()),
                Seg::Ref(Ref::HostAddress),
                Seg::Lit(":".into()),
                Seg::Ref(Ref::ComponentPort { component: "web".into(), port: 8080 }),
                Seg::Lit("/".into())
            ]
        );
        assert_eq!(parse("a $${x} $5", P).unwrap().as_literal().unwrap(), "a ${x} $5");
        let r = parse("${inputs.n}", P).unwrap().render(|_| Ok::<_, ()>("7".into())).unwrap();
        assert_eq!(r, "7");
    }

    #[test]
    fn errors_point_at_the_reference() {
        let (pos, msg) = parse("abc ${input.x}", P).unwrap_err();
        assert_eq!(pos, Pos { line: 3, column: 14 });
        assert!(msg.contains("input.x"), "{msg}");
        assert!(parse("${inputs.x", P).is_err());
    }
}
