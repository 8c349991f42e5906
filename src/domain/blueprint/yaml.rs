//! A small YAML tree with a position on every node, built on saphyr-parser's events, so that
//! every blueprint error can say line and column. Anchors, aliases and tags are refused: a
//! blueprint is plain data, and aliases are the door to "billion laughs" documents.
use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use super::BlueprintError;

/// 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Pos { line: span.start.line(), column: span.start.col() + 1 }
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Scalar { value: String, style: ScalarStyle, pos: Pos },
    Seq { items: Vec<Node>, pos: Pos },
    Map { entries: Vec<(Key, Node)>, pos: Pos },
}

#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq { pos, .. } | Node::Map { pos, .. } => *pos,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "a value",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
        }
    }

    /// Where the text of a one-line scalar starts (after an opening quote).
    pub fn text_pos(&self) -> Pos {
        match self {
            Node::Scalar { style: ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted, pos, .. } => {
                Pos { line: pos.line, column: pos.column + 1 }
            }
            other => other.pos(),
        }
    }

    /// A plain `null`, `~` or empty value.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { value, style: ScalarStyle::Plain, .. } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 100_000;

/// Parses one YAML document into a tree.
pub fn parse(source: &str) -> Result<Node, BlueprintError> {
    let mut stack: Vec<Building> = Vec::new();
    let mut root: Option<Node> = None;
    let mut count = 0usize;
    for item in Parser::new_from_str(source) {
        let (event, span) = item.map_err(|e| BlueprintError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: format!("YAML syntax error: {}", e.info()),
        })?;
        let pos = Pos::of(&span);
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(BlueprintError::at(pos, "a blueprint file holds one YAML document; found a second one"));
                }
                continue;
            }
            Event::Alias(_) => return Err(BlueprintError::at(pos, "YAML aliases (*name) are not allowed in blueprints")),
            Event::Scalar(value, style, anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                Node::Scalar { value: value.into_owned(), style, pos }
            }
            Event::SequenceStart(anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                if stack.len() >= MAX_DEPTH {
                    return Err(BlueprintError::at(pos, "the document nests too deeply"));
                }
                stack.push(Building::Seq { items: Vec::new(), pos });
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                refuse_anchor_and_tag(pos, anchor, tag.is_some())?;
                if stack.len() >= MAX_DEPTH {
                    return Err(BlueprintError::at(pos, "the document nests too deeply"));
                }
                stack.push(Building::Map { entries: Vec::new(), key: None, pos, seen: std::collections::HashSet::new() });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Building::Seq { items, pos }) => Node::Seq { items, pos },
                Some(Building::Map { entries, pos, .. }) => Node::Map { entries, pos },
                None => return Err(BlueprintError::at(pos, "unbalanced YAML")),
            },
        };
        count += 1;
        if count > MAX_NODES {
            return Err(BlueprintError::at(pos, "the document is too large"));
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Building::Seq { items, .. }) => items.push(node),
            Some(Building::Map { entries, key, seen, .. }) => match key.take() {
                None => match node {
                    Node::Scalar { value, pos, .. } => {
                        if !seen.insert(value.clone()) {
                            return Err(BlueprintError::at(pos, format!("the key `{value}` appears twice")));
                        }
                        *key = Some(Key { name: value, pos });
                    }
                    other => return Err(BlueprintError::at(other.pos(), "a mapping key must be a plain value")),
                },
                Some(k) => entries.push((k, node)),
            },
        }
    }
    root.ok_or_else(|| BlueprintError { line: 1, column: 1, message: "the blueprint is empty".into() })
}

fn refuse_anchor_and_tag(pos: Pos, anchor: usize, tagged: bool) -> Result<(), BlueprintError> {
    if anchor != 0 {
        return Err(BlueprintError::at(pos, "YAML anchors (&name) are not allowed in blueprints"));
    }
    if tagged {
        return Err(BlueprintError::at(pos, "YAML tags (!tag) are not allowed in blueprints"));
    }
    Ok(())
}

enum Building {
    Seq {
        items: Vec<Node>,
        pos: Pos,
    },
    /// `seen`: the keys so far, so that a repeated one is found in constant time.
    Map {
        entries: Vec<(Key, Node)>,
        key: Option<Key>,
        pos: Pos,
        seen: std::collections::HashSet<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let node = parse("a: 1\nb:\n  - x\n  - \"y\"\n").unwrap();
        let Node::Map { entries, .. } = node else { panic!() };
        assert_eq!(entries[0].0.pos, Pos { line: 1, column: 1 });
        let Node::Seq { items, .. } = &entries[1].1 else { panic!() };
        assert_eq!(items[0].pos(), Pos { line: 3, column: 5 });
        assert_eq!(items[1].text_pos(), Pos { line: 4, column: 6 });
    }

    #[test]
    fn refuses_aliases_duplicates_and_bad_syntax() {
        assert!(parse("a: &x 1\nb: *x\n").unwrap_err().message.contains("anchors"));
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.message.contains("twice"));
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(e.message.contains("syntax"), "{e:?}");
        assert!(parse("").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").unwrap_err().message.contains("one YAML document"));
    }
}
