//! The parser of Go's `text/template/parse`: the same grammar, checks and error texts, for
//! everything but `define`, `template` and `block` (one template per string has no use for
//! them; they are reported as unsupported).

use std::fmt;

pub use super::ast::{Action, Arg, Branch, Command, List, Node, Number, Pipe};
use super::funcs::is_builtin;
use super::lex::{Item, Kind, lex};
use crate::gostr;

/// Nesting limit for parentheses and control structures, so hostile input cannot exhaust the
/// (small, in WASM) stack.
const MAX_DEPTH: usize = 100;

/// What `itemList` stopped at.
enum Stop {
    End,
    Else,
}

/// Parses a template body; errors read like Go's: `template: <name>:<line>: <message>`.
pub fn parse(name: &str, text: &str) -> Result<List, String> {
    let mut parser = Parser {
        name,
        items: lex(text),
        idx: 0,
        line: 1,
        vars: vec!["$".to_owned()],
        range_depth: 0,
        depth: 0,
    };
    parser.parse_root()
}

struct Parser<'n, 's> {
    name: &'n str,
    items: Vec<Item<'s>>,
    idx: usize,
    /// Line of the last token looked at, for error messages.
    line: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
}

type Res<T> = Result<T, String>;

impl<'s> Parser<'_, 's> {
    fn errorf<T>(&self, message: impl fmt::Display) -> Res<T> {
        Err(format!("template: {}:{}: {message}", self.name, self.line))
    }

    fn unexpected<T>(&self, item: &Item<'_>, context: &str) -> Res<T> {
        if item.kind == Kind::Error {
            return self.errorf(item);
        }
        self.errorf(format_args!("unexpected {item} in {context}"))
    }

    fn item(&self, idx: usize) -> Item<'s> {
        // The lexer always ends with Eof or Error, and the parser never reads past either.
        self.items
            .get(idx)
            .or(self.items.last())
            .cloned()
            .unwrap_or(Item {
                kind: Kind::Eof,
                pos: 0,
                val: "".into(),
                line: 1,
            })
    }

    fn next(&mut self) -> Item<'s> {
        let item = self.item(self.idx);
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        self.line = item.line;
        item
    }

    fn backup(&mut self) {
        self.idx -= 1;
    }

    fn peek(&mut self) -> Item<'s> {
        let item = self.item(self.idx);
        self.line = item.line;
        item
    }

    fn next_non_space(&mut self) -> Item<'s> {
        loop {
            let item = self.next();
            if item.kind != Kind::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item<'s> {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Res<Item<'s>> {
        let item = self.next_non_space();
        if item.kind != kind {
            return self.unexpected(&item, context);
        }
        Ok(item)
    }

    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.errorf("max depth exceeded");
        }
        Ok(())
    }

    fn parse_root(&mut self) -> Res<List> {
        let mut list = List { nodes: Vec::new() };
        while self.peek().kind != Kind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                Parsed::End => return self.errorf("unexpected {{end}}"),
                Parsed::Else => return self.errorf("unexpected {{else}}"),
            }
        }
        Ok(list)
    }

    fn text_or_action(&mut self) -> Res<Parsed> {
        let item = self.next_non_space();
        match item.kind {
            Kind::Text => Ok(Parsed::Node(Node::Text(item.val.into_owned()))),
            Kind::LeftDelim => self.action(),
            _ => self.unexpected(&item, "input"),
        }
    }

    fn item_list(&mut self) -> Res<(List, Stop)> {
        let mut list = List { nodes: Vec::new() };
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.nodes.push(n),
                Parsed::End => return Ok((list, Stop::End)),
                Parsed::Else => return Ok((list, Stop::Else)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn action(&mut self) -> Res<Parsed> {
        let item = self.next_non_space();
        match item.kind {
            Kind::Block | Kind::Define | Kind::Template => {
                return self.errorf(format_args!(
                    "{{{{{}}}}} is not supported in KubeStellar templates",
                    item.val
                ));
            }
            Kind::Break | Kind::Continue => {
                let next = self.next_non_space();
                let what = if item.kind == Kind::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                if next.kind != Kind::RightDelim {
                    return self.unexpected(&next, what);
                }
                if self.range_depth == 0 {
                    return self.errorf(format_args!("{what} outside {{{{range}}}}"));
                }
                return Ok(Parsed::Node(if item.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => {
                let peek = self.peek_non_space();
                if peek.kind == Kind::If || peek.kind == Kind::With {
                    return Ok(Parsed::Else);
                }
                self.expect(Kind::RightDelim, "else")?;
                return Ok(Parsed::Else);
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Parsed::End);
            }
            Kind::If => return Ok(Parsed::Node(Node::If(self.control("if")?))),
            Kind::Range => return Ok(Parsed::Node(Node::Range(self.control("range")?))),
            Kind::With => return Ok(Parsed::Node(Node::With(self.control("with")?))),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(Action { pos, pipe })))
    }

    fn control(&mut self, context: &'static str) -> Res<Branch> {
        self.enter()?;
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, stop) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Stop::Else = stop {
            // `{{else if …}}` / `{{else with …}}` nest a new control in the else branch, which
            // consumes the one `{{end}}`.
            let peek = self.peek().kind;
            if (context == "if" && peek == Kind::If) || (context == "with" && peek == Kind::With) {
                self.next();
                let nested = self.control(context)?;
                let node = if context == "if" {
                    Node::If(nested)
                } else {
                    Node::With(nested)
                };
                else_list = Some(List { nodes: vec![node] });
            } else {
                let (list, stop) = self.item_list()?;
                if let Stop::Else = stop {
                    return self.errorf("expected end; found {{else}}");
                }
                else_list = Some(list);
            }
        }
        self.vars.truncate(mark);
        self.depth -= 1;
        Ok(Branch {
            pos: pipe.pos,
            keyword: context,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Res<Pipe> {
        self.enter()?;
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $e :=` (range only).
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let var_idx = self.idx;
            self.next_non_space();
            let after_var = self.peek();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.to_string());
                    self.vars.push(v.val.to_string());
                }
                Kind::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.to_string());
                    self.vars.push(v.val.to_string());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue,
                            _ => return self.errorf("range can only initialize variables"),
                        }
                    }
                    return self.errorf(format_args!("too many declarations in {context}"));
                }
                _ => {
                    // `$x` is an operand, not a declaration: put it back.
                    let _ = after_var;
                    self.idx = var_idx;
                }
            }
            break;
        }
        loop {
            let token = self.next_non_space();
            if token.kind == end {
                self.check_pipeline(&pipe, context)?;
                self.depth -= 1;
                return Ok(pipe);
            }
            match token.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Res<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format_args!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot(_)
                        | Arg::Nil(_)
                        | Arg::Number { .. }
                        | Arg::String { .. }
                )
            ) {
                return self.errorf(format_args!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Res<Command> {
        let mut cmd = Command { args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Res<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            let item = self.next();
            fields.extend(item.val[1..].split('.').map(str::to_owned));
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil(_)
            | Arg::Dot(_) => {
                return self.errorf(format_args!(
                    "unexpected . after term {}",
                    gostr::quote(&node.to_string())
                ));
            }
            node => Arg::Chain {
                pos,
                node: Box::new(node),
                fields,
            },
        }))
    }

    fn term(&mut self) -> Res<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => {
                if !is_builtin(&token.val) {
                    return self.errorf(format_args!(
                        "function {} not defined",
                        gostr::quote(&token.val)
                    ));
                }
                Arg::Identifier {
                    pos,
                    name: token.val.into_owned(),
                }
            }
            Kind::Dot => Arg::Dot(pos),
            Kind::Nil => Arg::Nil(pos),
            Kind::Variable => {
                let idents: Vec<String> = token.val.split('.').map(str::to_owned).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return self.errorf(format_args!(
                        "undefined variable {}",
                        gostr::quote(&idents[0])
                    ));
                }
                Arg::Variable { pos, idents }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: token.val[1..].split('.').map(str::to_owned).collect(),
            },
            Kind::Bool => Arg::Bool {
                pos,
                value: token.val == "true",
            },
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                match Number::parse(token.kind, &token.val) {
                    Ok(value) => Arg::Number {
                        pos,
                        text: token.val.into_owned(),
                        value,
                    },
                    Err(e) => return self.errorf(e),
                }
            }
            Kind::LeftParen => Arg::Pipe(Box::new(
                self.pipeline("parenthesized pipeline", Kind::RightParen)?,
            )),
            Kind::String | Kind::RawString => match gostr::unquote(&token.val) {
                Ok(text) => Arg::String {
                    pos,
                    quoted: token.val.into_owned(),
                    text,
                },
                Err(e) => return self.errorf(e),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

enum Parsed {
    Node(Node),
    End,
    Else,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse("t", text).err().unwrap_or_default()
    }

    #[test]
    fn parse_errors_read_like_go() {
        assert_eq!(
            err("{{ + }}"),
            r#"template: t:1: illegal number syntax: "+""#
        );
        assert_eq!(err("{{if true}}"), "template: t:1: unexpected EOF");
        assert_eq!(err("a\n{{end}}"), "template: t:2: unexpected {{end}}");
        assert_eq!(err("{{else}}"), "template: t:1: unexpected {{else}}");
        assert_eq!(err("{{ }}"), "template: t:1: missing value for command");
        assert_eq!(
            err("{{ nope 1 }}"),
            r#"template: t:1: function "nope" not defined"#
        );
        assert_eq!(
            err("{{ html 1 }}"),
            r#"template: t:1: function "html" not defined"#
        );
        assert_eq!(err("{{ $x }}"), r#"template: t:1: undefined variable "$x""#);
        assert_eq!(
            err("{{ .a | 3 }}"),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{ \"a\".b }}"),
            r#"template: t:1: unexpected . after term "\"a\"""#
        );
        assert_eq!(err("{{ .a"), "template: t:1: unclosed action");
        assert_eq!(err("{{ \"\\q\" }}"), "template: t:1: invalid syntax");
        assert_eq!(
            err("{{break}}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            err("{{define \"x\"}}{{end}}"),
            "template: t:1: {{define}} is not supported in KubeStellar templates"
        );
        assert_eq!(err("{{ (1 }}"), "template: t:1: unclosed left paren");
        assert_eq!(err("{{"), "template: t:1: unclosed action");
        assert_eq!(
            err(&format!("{{{{{}1{}}}}}", "(".repeat(200), ")".repeat(200))),
            "template: t:1: max depth exceeded"
        );
    }

    #[test]
    fn numbers() {
        let num = |t: &str| match parse("t", &format!("{{{{{t}}}}}"))
            .ok()
            .and_then(|mut l| l.nodes.pop())
        {
            Some(Node::Action(Action { mut pipe, .. })) => {
                match pipe.cmds.pop().and_then(|mut c| c.args.pop()) {
                    Some(Arg::Number { value, .. }) => format!("{value:?}"),
                    other => format!("{other:?}"),
                }
            }
            other => format!("{other:?}"),
        };
        assert_eq!(num("42"), "Int(42)");
        assert_eq!(num("-0x1F"), "Int(-31)");
        assert_eq!(num("0o17"), "Int(15)");
        assert_eq!(num("017"), "Int(15)");
        assert_eq!(num("1_000"), "Int(1000)");
        assert_eq!(num("1.5"), "Float(1.5)");
        assert_eq!(num("1e3"), "Float(1000.0)");
        assert_eq!(num("'a'"), "Int(97)");
        assert_eq!(num("18446744073709551615"), "Overflow");
        assert_eq!(
            err("{{ 99999999999999999999 }}"),
            r#"template: t:1: integer overflow: "99999999999999999999""#
        );
    }

    #[test]
    fn structure() {
        let list = parse(
            "t",
            "a{{if .x}}b{{else if .y}}c{{else}}d{{end}}{{range $i, $v := .}}{{$i}}{{end}}",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            list.to_string(),
            "a{{if .x}}b{{else}}{{if .y}}c{{else}}d{{end}}{{end}}{{range $i, $v := .}}{{$i}}{{end}}"
        );
    }
}
