//! The parse tree of a template, and how nodes print (Go's `Node.String()`, the context of
//! execution errors).

use std::fmt;

use super::lex::Kind;
use crate::gostr;

/// A sequence of nodes.
#[derive(Debug)]
pub struct List {
    pub nodes: Vec<Node>,
}

/// A node of the template body.
#[derive(Debug)]
pub enum Node {
    Text(String),
    Action(Action),
    If(Branch),
    With(Branch),
    Range(Branch),
    Break,
    Continue,
}

/// `{{pipeline}}`.
#[derive(Debug)]
pub struct Action {
    pub pos: usize,
    pub pipe: Pipe,
}

/// `{{if|with|range pipeline}} list {{else}} list {{end}}`.
#[derive(Debug)]
pub struct Branch {
    pub pos: usize,
    pub keyword: &'static str,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// Declarations and a chain of commands separated by `|`.
#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// A function or method call with its arguments.
#[derive(Debug)]
pub struct Command {
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.a.b`
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.a`; `idents[0]` is the variable name.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipeline).a.b`
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    Dot(usize),
    Nil(usize),
    Bool {
        pos: usize,
        value: bool,
    },
    Number {
        pos: usize,
        text: String,
        value: Number,
    },
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    Pipe(Box<Pipe>),
}

/// A numeric constant, as Go's ideal-constant rules type it.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Int(i64),
    Float(f64),
    /// An integer that does not fit `int`; an error when evaluated.
    Overflow,
}

impl Arg {
    /// The byte offset of the operand in the template.
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Arg {
    /// Go's `Node.String()`, used as the context of execution errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => idents.iter().try_for_each(|i| write!(f, ".{i}")),
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                if matches!(**node, Arg::Pipe(_)) {
                    write!(f, "({node})")?;
                } else {
                    write!(f, "{node}")?;
                }
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { text, .. } => f.write_str(text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{} := ", self.decl.join(", "))?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(p) = arg {
                write!(f, "({p})")?
            } else {
                write!(f, "{arg}")?
            }
        }
        Ok(())
    }
}

impl fmt::Display for Branch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{} {}}}}}", self.keyword, self.pipe)?;
        write!(f, "{}", self.list)?;
        if let Some(e) = &self.else_list {
            write!(f, "{{{{else}}}}{e}")?;
        }
        f.write_str("{{end}}")
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for node in &self.nodes {
            match node {
                Node::Text(t) => f.write_str(t)?,
                Node::Action(a) => write!(f, "{{{{{}}}}}", a.pipe)?,
                Node::If(b) | Node::With(b) | Node::Range(b) => write!(f, "{b}")?,
                Node::Break => f.write_str("{{break}}")?,
                Node::Continue => f.write_str("{{continue}}")?,
            }
        }
        Ok(())
    }
}

impl Number {
    /// Go's `newNumber` plus `idealConstant`'s typing: literals with `.` or `e` (outside hex
    /// integers) are floats, others integers; character constants are their code point.
    /// Errors are Go's parse messages.
    pub fn parse(kind: Kind, text: &str) -> Result<Number, String> {
        let illegal = || Err(format!("illegal number syntax: {}", gostr::quote(text)));
        if kind == Kind::CharConstant {
            let c = gostr::unquote(text)?;
            return Ok(Number::Int(
                c.chars().next().map_or(0, |c| i64::from(u32::from(c))),
            ));
        }
        if kind == Kind::Complex || text.ends_with('i') {
            return Err(format!("complex constant {text} is not supported"));
        }
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = unsigned.to_ascii_lowercase();
        let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
            (16, d)
        } else if let Some(d) = lower.strip_prefix("0o") {
            (8, d)
        } else if let Some(d) = lower.strip_prefix("0b") {
            (2, d)
        } else {
            (10, lower.as_str())
        };
        if digits.is_empty()
            || digits.starts_with('_')
            || digits.ends_with('_')
            || digits.contains("__")
        {
            return illegal();
        }
        let clean = digits.replace('_', "");
        if radix == 10 && clean.contains(['.', 'e']) {
            return match clean.parse::<f64>() {
                Ok(f) => Ok(Number::Float(if negative { -f } else { f })),
                Err(_) => illegal(),
            };
        }
        // A leading 0 means octal, as in Go.
        let (radix, clean) = if radix == 10 && clean.len() > 1 && clean.starts_with('0') {
            (8, clean[1..].to_owned())
        } else {
            (radix, clean)
        };
        let overflow = || Err(format!("integer overflow: {}", gostr::quote(text)));
        match u64::from_str_radix(&clean, radix) {
            // Beyond int but within uint: an error only when evaluated, as in Go.
            Ok(u) if !negative => Ok(i64::try_from(u).map_or(Number::Overflow, Number::Int)),
            Ok(u) => 0i64
                .checked_sub_unsigned(u)
                .map_or_else(overflow, |n| Ok(Number::Int(n))),
            Err(e) if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) => overflow(),
            Err(_) => illegal(),
        }
    }
}
