//! The lexer of Go's `text/template/parse`, ported state for state (without its goroutine) so
//! that tokens, trim markers and error texts match Go's.

use std::borrow::Cow;

pub use super::token::{Item, Kind};
use crate::gostr;

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// A trim marker is a space and a minus sign: `{{- ` or ` -}}`.
const TRIM_MARKER_LEN: usize = 2;

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
    Done,
}

/// Splits a template into tokens; the last one is `Eof` or `Error`.
pub fn lex(input: &str) -> Vec<Item<'_>> {
    let mut lexer = Lexer {
        input,
        pos: 0,
        start: 0,
        width: 0,
        items: Vec::new(),
        paren_depth: 0,
        line: 1,
        line_pos: 0,
    };
    let mut state = State::Text;
    loop {
        state = match state {
            State::Text => lexer.lex_text(),
            State::LeftDelim => lexer.lex_left_delim(),
            State::Comment => lexer.lex_comment(),
            State::RightDelim => lexer.lex_right_delim(),
            State::InsideAction => lexer.lex_inside_action(),
            State::Space => lexer.lex_space(),
            State::Identifier => lexer.lex_identifier(),
            State::Field => lexer.lex_field_or_variable(Kind::Field),
            State::Variable => lexer.lex_field_or_variable(Kind::Variable),
            State::Char => lexer.lex_char(),
            State::Number => lexer.lex_number(),
            State::Quote => lexer.lex_quote(),
            State::RawQuote => lexer.lex_raw_quote(),
            State::Done => return lexer.items,
        };
    }
}

struct Lexer<'s> {
    input: &'s str,
    pos: usize,
    start: usize,
    /// Width of the last character read, for `backup`.
    width: usize,
    items: Vec<Item<'s>>,
    paren_depth: i32,
    /// Line number at byte `line_pos` (a cursor that only moves forward).
    line: usize,
    line_pos: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Go's `isAlphaNumeric`: underscore, letters and digits.
pub fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(char::from(b[1]))
}

fn has_right_trim_marker(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(char::from(b[0])) && b[1] == b'-'
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

impl<'s> Lexer<'s> {
    fn next(&mut self) -> Option<char> {
        let c = self.input[self.pos..].chars().next();
        self.width = c.map_or(0, char::len_utf8);
        self.pos += self.width;
        c
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn line_at(&mut self, pos: usize) -> usize {
        if pos >= self.line_pos {
            self.line += self.input[self.line_pos..pos].matches('\n').count();
            self.line_pos = pos;
            self.line
        } else {
            1 + self.input[..pos].matches('\n').count()
        }
    }

    fn this_item(&mut self, kind: Kind) -> Item<'s> {
        let line = self.line_at(self.start);
        let item = Item {
            kind,
            pos: self.start,
            val: Cow::Borrowed(&self.input[self.start..self.pos]),
            line,
        };
        self.start = self.pos;
        item
    }

    fn emit(&mut self, kind: Kind) -> State {
        let item = self.this_item(kind);
        self.items.push(item);
        if kind == Kind::Eof {
            State::Done
        } else {
            State::InsideAction
        }
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn errorf(&mut self, message: String) -> State {
        let line = self.line_at(self.start);
        self.items.push(Item {
            kind: Kind::Error,
            pos: self.start,
            val: Cow::Owned(message),
            line,
        });
        State::Done
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.next();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.input[self.pos..];
        if has_right_trim_marker(rest) && rest[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM), false)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.input[self.pos..].starts_with(RIGHT_DELIM),
        }
    }

    fn lex_text(&mut self) -> State {
        if let Some(x) = self.input[self.pos..].find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT_DELIM.len();
                let trim = if has_left_trim_marker(&self.input[delim_end..]) {
                    right_trim_length(&self.input[self.start..self.pos])
                } else {
                    0
                };
                self.pos -= trim;
                let item = self.this_item(Kind::Text);
                self.pos += trim;
                self.ignore();
                if !item.val.is_empty() {
                    self.items.push(item);
                }
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            let item = self.this_item(Kind::Text);
            self.items.push(item);
        }
        self.emit(Kind::Eof)
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += LEFT_DELIM.len();
        let trim = has_left_trim_marker(&self.input[self.pos..]);
        let after_marker = if trim { TRIM_MARKER_LEN } else { 0 };
        if self.input[self.pos + after_marker..].starts_with(LEFT_COMMENT) {
            self.pos += after_marker;
            self.ignore();
            return State::Comment;
        }
        let item = self.this_item(Kind::LeftDelim);
        self.items.push(item);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn lex_comment(&mut self) -> State {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.input[self.pos..].find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".to_owned());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".to_owned());
        }
        if trim {
            self.pos += TRIM_MARKER_LEN;
        }
        self.pos += RIGHT_DELIM.len();
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
        }
        self.ignore();
        State::Text
    }

    fn lex_right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += TRIM_MARKER_LEN;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        let item = self.this_item(Kind::RightDelim);
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
            self.ignore();
        }
        self.items.push(item);
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        if self.at_right_delim().0 {
            if self.paren_depth == 0 {
                return State::RightDelim;
            }
            return self.errorf("unclosed left paren".to_owned());
        }
        match self.next() {
            None => self.errorf("unclosed action".to_owned()),
            Some(c) if is_space(c) => {
                self.backup();
                State::Space
            }
            Some('=') => self.emit(Kind::Assign),
            Some(':') => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".to_owned());
                }
                self.emit(Kind::Declare)
            }
            Some('|') => self.emit(Kind::Pipe),
            Some('"') => State::Quote,
            Some('`') => State::RawQuote,
            Some('$') => State::Variable,
            Some('\'') => State::Char,
            Some('.')
                if self
                    .input
                    .as_bytes()
                    .get(self.pos)
                    .is_some_and(|b| !b.is_ascii_digit()) =>
            {
                State::Field
            }
            Some(c) if c == '.' || c == '+' || c == '-' || c.is_ascii_digit() => {
                self.backup();
                State::Number
            }
            Some(c) if is_alphanumeric(c) => {
                self.backup();
                State::Identifier
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(Kind::LeftParen)
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".to_owned());
                }
                self.emit(Kind::RightParen)
            }
            Some(c) if c.is_ascii() && gostr::is_print(c) => self.emit(Kind::Char),
            Some(c) => self.errorf(format!(
                "unrecognized character in action: {}",
                gostr::unicode_point(c)
            )),
        }
    }

    fn lex_space(&mut self) -> State {
        let mut spaces = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            spaces += 1;
        }
        // A space may begin a trim-marked right delimiter ` -}}`.
        let before = &self.input[self.pos - 1..];
        if has_right_trim_marker(before) && before[TRIM_MARKER_LEN..].starts_with(RIGHT_DELIM) {
            self.backup();
            if spaces == 1 {
                return State::RightDelim;
            }
        }
        self.emit(Kind::Space)
    }

    fn lex_identifier(&mut self) -> State {
        loop {
            match self.next() {
                Some(c) if is_alphanumeric(c) => {}
                r => {
                    if r.is_some() {
                        self.backup();
                    }
                    if !self.at_terminator() {
                        return self.errorf(format!(
                            "bad character {}",
                            gostr::unicode_point(r.unwrap_or('\0'))
                        ));
                    }
                    let kind = match &self.input[self.start..self.pos] {
                        "block" => Kind::Block,
                        "break" => Kind::Break,
                        "continue" => Kind::Continue,
                        "define" => Kind::Define,
                        "else" => Kind::Else,
                        "end" => Kind::End,
                        "if" => Kind::If,
                        "range" => Kind::Range,
                        "nil" => Kind::Nil,
                        "template" => Kind::Template,
                        "with" => Kind::With,
                        "true" | "false" => Kind::Bool,
                        _ => Kind::Identifier,
                    };
                    return self.emit(kind);
                }
            }
        }
    }

    fn lex_field_or_variable(&mut self, kind: Kind) -> State {
        if self.at_terminator() {
            return self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
        }
        let last = loop {
            match self.next() {
                Some(c) if is_alphanumeric(c) => {}
                r => {
                    if r.is_some() {
                        self.backup();
                    }
                    break r;
                }
            }
        };
        if !self.at_terminator() {
            return self.errorf(format!(
                "bad character {}",
                gostr::unicode_point(last.unwrap_or('\0'))
            ));
        }
        self.emit(kind)
    }

    fn lex_char(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated character constant".to_owned()),
                },
                None | Some('\n') => {
                    return self.errorf("unterminated character constant".to_owned());
                }
                Some('\'') => return self.emit(Kind::CharConstant),
                Some(_) => {}
            }
        }
    }

    fn lex_number(&mut self) -> State {
        if !self.scan_number() {
            let text = gostr::quote(&self.input[self.start..self.pos]);
            return self.errorf(format!("bad number syntax: {text}"));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Complex: 1+2i. No spaces, must end in 'i'.
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let text = gostr::quote(&self.input[self.start..self.pos]);
                return self.errorf(format!("bad number syntax: {text}"));
            }
            return self.emit(Kind::Complex);
        }
        self.emit(Kind::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alphanumeric) {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated quoted string".to_owned()),
                },
                None | Some('\n') => return self.errorf("unterminated quoted string".to_owned()),
                Some('"') => return self.emit(Kind::String),
                Some(_) => {}
            }
        }
    }

    fn lex_raw_quote(&mut self) -> State {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".to_owned()),
                Some('`') => return self.emit(Kind::RawString),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<(Kind, String)> {
        lex(input)
            .into_iter()
            .map(|i| (i.kind, i.val.into_owned()))
            .collect()
    }

    #[test]
    fn text_and_fields() {
        use Kind::*;
        assert_eq!(
            kinds("a {{ .clusterName }} b"),
            vec![
                (Text, "a ".into()),
                (LeftDelim, "{{".into()),
                (Space, " ".into()),
                (Field, ".clusterName".into()),
                (Space, " ".into()),
                (RightDelim, "}}".into()),
                (Text, " b".into()),
                (Eof, "".into())
            ]
        );
    }

    #[test]
    fn trim_markers_and_comments() {
        use Kind::*;
        assert_eq!(
            kinds("a  {{- 3 -}}  b{{/* c */}}c"),
            vec![
                (Text, "a".into()),
                (LeftDelim, "{{".into()),
                (Number, "3".into()),
                (RightDelim, "}}".into()),
                (Text, "b".into()),
                (Text, "c".into()),
                (Eof, "".into())
            ]
        );
    }

    #[test]
    fn lexical_errors() {
        let last = |s: &str| lex(s).pop().map(|i| (i.kind, i.val.into_owned()));
        assert_eq!(last("{{ .a"), Some((Kind::Error, "unclosed action".into())));
        assert_eq!(
            last("{{ \"a }}"),
            Some((Kind::Error, "unterminated quoted string".into()))
        );
        assert_eq!(
            last("{{ 3x }}"),
            Some((Kind::Error, "bad number syntax: \"3x\"".into()))
        );
        assert_eq!(
            last("{{ .a! }}"),
            Some((Kind::Error, "bad character U+0021 '!'".into()))
        );
        assert_eq!(
            last("{{ ) }}"),
            Some((Kind::Error, "unexpected right paren".into()))
        );
        assert_eq!(
            last("{{/* x"),
            Some((Kind::Error, "unclosed comment".into()))
        );
        assert_eq!(last("{{ é }}").map(|x| x.0), Some(Kind::Eof));
        assert_eq!(
            last("{{ \u{1} }}"),
            Some((
                Kind::Error,
                "unrecognized character in action: U+0001".into()
            ))
        );
    }
}
