//! The executor of Go's `text/template` with `Option("missingkey=error")`: the same evaluation
//! rules and error texts (`template: <name>:<line>:<col>: executing "<name>" at <<node>>: …`).

use std::borrow::Cow;
use std::fmt;

use super::fmt::write_value;
use super::funcs;
use super::parse::{Action, Arg, Branch, Command, List, Node, Number, Pipe};
use super::value::{Data, Value};
use crate::gostr;

/// Output beyond this is an error: a template should produce a field value, not a flood.
const MAX_OUTPUT: usize = 1 << 20;
/// Evaluation steps beyond this are an error (bounds `{{range 1000000000}}`).
const MAX_STEPS: usize = 1_000_000;

type Res<T> = Result<T, String>;

/// How a walk ended: normally, or by `{{break}}` / `{{continue}}`.
#[derive(PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// The node being evaluated, for the context of error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    Arg(&'a Arg),
    Pipe(&'a Pipe),
    Action(&'a Action),
    Branch(&'a Branch),
}

impl At<'_> {
    fn pos(&self) -> usize {
        match self {
            At::Arg(a) => a.pos(),
            At::Pipe(p) => p.pos,
            At::Action(a) => a.pos,
            At::Branch(b) => b.pos,
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Arg(a) => write!(f, "{a}"),
            At::Pipe(p) => write!(f, "{p}"),
            At::Action(a) => write!(f, "{{{{{}}}}}", a.pipe),
            At::Branch(b) => write!(f, "{b}"),
        }
    }
}

/// Runs a parsed template on `data`.
pub fn execute(name: &str, text: &str, root: &List, data: &Data) -> Res<String> {
    let mut state = State {
        name,
        text,
        out: String::new(),
        vars: vec![("$", Value::Map(data))],
        at: None,
        steps: 0,
    };
    state.walk_list(&Value::Map(data), root)?;
    Ok(state.out)
}

struct State<'a> {
    name: &'a str,
    text: &'a str,
    out: String,
    vars: Vec<(&'a str, Value<'a>)>,
    at: Option<At<'a>>,
    steps: usize,
}

impl<'a> State<'a> {
    fn errorf<T>(&self, message: impl fmt::Display) -> Res<T> {
        let Some(at) = self.at else {
            return Err(format!("template: {}: {message}", self.name));
        };
        let pos = at.pos().min(self.text.len());
        let before = &self.text[..pos];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        Err(format!(
            "template: {}:{line}:{col}: executing {} at <{at}>: {message}",
            self.name,
            gostr::quote(self.name)
        ))
    }

    fn step(&mut self) -> Res<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.errorf(format_args!("template execution exceeds {MAX_STEPS} steps"));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> Res<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return self.errorf(format_args!("template output exceeds {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value<'a>, list: &'a List) -> Res<Flow> {
        for node in &list.nodes {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value<'a>, node: &'a Node) -> Res<Flow> {
        self.step()?;
        match node {
            Node::Text(text) => self.write(text)?,
            Node::Action(action) => {
                self.at = Some(At::Action(action));
                let value = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at = Some(At::Action(action));
                    self.print_value(&value)?;
                }
            }
            Node::If(branch) => return self.walk_if_or_with(dot, branch, false),
            Node::With(branch) => return self.walk_if_or_with(dot, branch, true),
            Node::Range(branch) => self.walk_range(dot, branch)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn print_value(&mut self, value: &Value<'a>) -> Res<()> {
        match value {
            Value::Nil => self.write("<no value>"),
            Value::Str(s) => self.write(s),
            other => {
                let mut text = String::new();
                write_value(&mut text, other);
                self.write(&text)
            }
        }
    }

    fn walk_if_or_with(&mut self, dot: &Value<'a>, branch: &'a Branch, with: bool) -> Res<Flow> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let flow = if value.truth() {
            if with {
                self.walk_list(&value, &branch.list)?
            } else {
                self.walk_list(dot, &branch.list)?
            }
        } else if let Some(else_list) = &branch.else_list {
            self.walk_list(dot, else_list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value<'a>, branch: &'a Branch) -> Res<()> {
        self.at = Some(At::Branch(branch));
        let outer = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let mark = self.vars.len();
        let decls = branch.pipe.decl.len();
        let mut ran = false;
        let items: Box<dyn Iterator<Item = (Value<'a>, Value<'a>)>> = match value {
            Value::Map(m) => Box::new(m.iter().map(|(k, v)| {
                (
                    Value::Str(Cow::Borrowed(k.as_str())),
                    Value::Str(Cow::Borrowed(v.as_str())),
                )
            })),
            Value::Int(n) => {
                if decls > 1 {
                    return self.errorf(format_args!(
                        "can't use {n} to iterate over more than one variable"
                    ));
                }
                Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))))
            }
            Value::Nil => Box::new(std::iter::empty()),
            other => {
                let mut shown = String::new();
                write_value(&mut shown, &other);
                return self.errorf(format_args!("range can't iterate over {shown}"));
            }
        };
        for (index, elem) in items {
            ran = true;
            self.step()?;
            if decls > 0 {
                if branch.pipe.is_assign {
                    let target = if decls > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    self.set_var(&branch.pipe.decl[0], target)?;
                    if decls > 1 {
                        self.set_var(&branch.pipe.decl[1], elem.clone())?;
                    }
                } else {
                    // The last declared variable gets the element, the one before it the index.
                    let top = self.vars.len();
                    self.vars[top - 1].1 = elem.clone();
                    if decls > 1 {
                        self.vars[top - 2].1 = index;
                    }
                }
            }
            let flow = self.walk_list(&elem, &branch.list)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        if !ran && let Some(else_list) = &branch.else_list {
            self.walk_list(dot, else_list)?;
        }
        self.vars.truncate(outer);
        Ok(())
    }

    fn eval_pipeline(&mut self, dot: &Value<'a>, pipe: &'a Pipe) -> Res<Value<'a>> {
        self.at = Some(At::Pipe(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_value: &Option<Value<'a>>) -> Res<()> {
        if args.len() > 1 || final_value.is_some() {
            return self.errorf(format_args!(
                "can't give argument to non-function {}",
                args[0]
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value<'a>,
        cmd: &'a Command,
        final_value: Option<Value<'a>>,
    ) -> Res<Value<'a>> {
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1;
        match first {
            Arg::Field { idents, .. } => {
                self.at = Some(At::Arg(first));
                self.eval_field_chain(dot.clone(), idents, has_args, final_value)
            }
            Arg::Chain { node, fields, .. } => {
                self.at = Some(At::Arg(first));
                if let Arg::Nil(_) = **node {
                    return self
                        .errorf(format_args!("indirection through explicit nil in {first}"));
                }
                let receiver = self.eval_arg(dot, node)?;
                self.at = Some(At::Arg(first));
                self.eval_field_chain(receiver, fields, has_args, final_value)
            }
            Arg::Identifier { name, .. } => {
                self.at = Some(At::Arg(first));
                self.eval_function(dot, first, name, &cmd.args[1..], final_value)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &final_value)?;
                self.eval_pipeline(dot, pipe)
            }
            Arg::Variable { idents, .. } => {
                self.at = Some(At::Arg(first));
                let value = self.var_value(&idents[0])?;
                if idents.len() == 1 {
                    self.not_a_function(&cmd.args, &final_value)?;
                    return Ok(value);
                }
                self.eval_field_chain(value, &idents[1..], has_args, final_value)
            }
            _ => {
                self.at = Some(At::Arg(first));
                self.not_a_function(&cmd.args, &final_value)?;
                self.eval_literal(dot, first)
            }
        }
    }

    fn eval_literal(&self, dot: &Value<'a>, arg: &'a Arg) -> Res<Value<'a>> {
        match arg {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => self.errorf("nil is not a command"),
            Arg::Number {
                value: Number::Int(n),
                ..
            } => Ok(Value::Int(*n)),
            Arg::Number {
                value: Number::Float(f),
                ..
            } => Ok(Value::Float(*f)),
            Arg::Number {
                value: Number::Overflow,
                text,
                ..
            } => self.errorf(format_args!("{text} overflows int")),
            Arg::String { text, .. } => Ok(Value::Str(Cow::Borrowed(text))),
            other => self.errorf(format_args!(
                "can't evaluate command {}",
                gostr::quote(&other.to_string())
            )),
        }
    }

    fn eval_field_chain(
        &mut self,
        receiver: Value<'a>,
        idents: &'a [String],
        has_args: bool,
        final_value: Option<Value<'a>>,
    ) -> Res<Value<'a>> {
        let Some((last, init)) = idents.split_last() else {
            return self.errorf("internal error: no fields in field chain");
        };
        let mut receiver = receiver;
        for ident in init {
            receiver = self.eval_field(ident, false, receiver)?;
        }
        self.eval_field(last, has_args || final_value.is_some(), receiver)
    }

    fn eval_field(&self, name: &str, has_args: bool, receiver: Value<'a>) -> Res<Value<'a>> {
        match receiver {
            Value::Nil => self.errorf(format_args!(
                "nil data; no entry for key {}",
                gostr::quote(name)
            )),
            Value::Map(map) => {
                if has_args {
                    return self.errorf(format_args!("{name} is not a method but has arguments"));
                }
                match map.get(name) {
                    Some(v) => Ok(Value::Str(Cow::Borrowed(v.as_str()))),
                    None => self.errorf(format_args!(
                        "map has no entry for key {}",
                        gostr::quote(name)
                    )),
                }
            }
            other => self.errorf(format_args!(
                "can't evaluate field {name} in type {}",
                other.type_name()
            )),
        }
    }

    /// Evaluates an argument of a function call or the head of a chain.
    fn eval_arg(&mut self, dot: &Value<'a>, arg: &'a Arg) -> Res<Value<'a>> {
        self.at = Some(At::Arg(arg));
        match arg {
            Arg::Field { idents, .. } => self.eval_field_chain(dot.clone(), idents, false, None),
            Arg::Variable { idents, .. } => {
                let value = self.var_value(&idents[0])?;
                if idents.len() == 1 {
                    return Ok(value);
                }
                self.eval_field_chain(value, &idents[1..], false, None)
            }
            Arg::Chain { node, fields, .. } => {
                if let Arg::Nil(_) = **node {
                    return self.errorf(format_args!("indirection through explicit nil in {arg}"));
                }
                let receiver = self.eval_arg(dot, node)?;
                self.at = Some(At::Arg(arg));
                self.eval_field_chain(receiver, fields, false, None)
            }
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe),
            Arg::Identifier { name, .. } => self.eval_function(dot, arg, name, &[], None),
            Arg::Nil(_) => Ok(Value::Nil),
            _ => self.eval_literal(dot, arg),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value<'a>,
        node: &'a Arg,
        name: &str,
        args: &'a [Arg],
        final_value: Option<Value<'a>>,
    ) -> Res<Value<'a>> {
        self.at = Some(At::Arg(node));
        let given = args.len() + usize::from(final_value.is_some());
        if let Err(e) = funcs::check_arity(name, given, args.len()) {
            return self.errorf(e);
        }
        if name == "and" || name == "or" {
            let mut last = Value::Nil;
            for arg in args {
                let value = self.eval_arg(dot, arg)?;
                if value.truth() == (name == "or") {
                    return Ok(value);
                }
                last = value;
            }
            return Ok(final_value.unwrap_or(last));
        }
        if name == "printf"
            && let Some(format) = args.first()
            && matches!(format, Arg::Bool { .. } | Arg::Number { .. } | Arg::Dot(_))
        {
            self.at = Some(At::Arg(format));
            return self.errorf(format_args!("expected string; found {format}"));
        }
        let mut argv = Vec::with_capacity(given);
        for arg in args {
            argv.push(self.eval_arg(dot, arg)?);
        }
        argv.extend(final_value);
        self.at = Some(At::Arg(node));
        match funcs::call(name, argv) {
            Ok(v) => Ok(v),
            Err(e) => self.errorf(format_args!("error calling {name}: {e}")),
        }
    }

    fn var_value(&self, name: &str) -> Res<Value<'a>> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.errorf(format_args!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, value: Value<'a>) -> Res<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.errorf(format_args!("undefined variable: {name}")),
        }
    }
}
