//! Go's `text/template`, as KubeStellar runs it on leaf strings: parsed with the template's
//! name, executed with `missingkey=error` on a `map[string]string`.
//!
//! Why not a crate: `gtmpl` (the Rust port) lexes on a spawned thread, which `wasm32-wasip2`
//! cannot do, and has no `missingkey=error`. This is a port of the parts a one-string template
//! over string properties can use: text, trim markers, comments, fields, variables,
//! pipelines, parentheses, `if`/`else if`/`with`/`range`/`break`/`continue`, and the builtins
//! `and or not len index slice print printf println eq ne lt le gt ge`. `define`, `template`
//! and `block` are reported as unsupported; `html`, `js`, `urlquery` and `call` are undefined,
//! as upstream KubeStellar disables them.

mod ast;
mod exec;
mod float;
mod fmt;
mod funcs;
mod lex;
mod parse;
mod token;
mod value;

pub use value::Data;

/// A parse or execution error, worded like Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// E.g. `template: x:1:9: executing "x" at <.a>: map has no entry for key "a"`.
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TemplateError {}

/// A parsed template.
pub struct Template {
    name: String,
    text: String,
    root: parse::List,
}

impl Template {
    /// Parses `text` as a template called `name` (the name appears in error messages).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let root = parse::parse(name, text).map_err(|message| TemplateError { message })?;
        Ok(Template {
            name: name.to_owned(),
            text: text.to_owned(),
            root,
        })
    }

    /// Runs the template on `data`; a missing key is an error.
    pub fn execute(&self, data: &Data) -> Result<String, TemplateError> {
        exec::execute(&self.name, &self.text, &self.root, data)
            .map_err(|message| TemplateError { message })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // In tests a panic is the failure report.
mod tests {
    use super::*;

    fn data() -> Data {
        [
            ("clusterName", "cluster1"),
            ("region", "east"),
            ("n", "3"),
            ("empty", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn run(text: &str) -> Result<String, String> {
        Template::parse("t", text)
            .and_then(|t| t.execute(&data()))
            .map_err(|e| e.message)
    }

    #[test]
    fn substitution_and_text() {
        assert_eq!(
            run("cluster {{ .clusterName }} in {{.region}}").as_deref(),
            Ok("cluster cluster1 in east")
        );
        assert_eq!(run("no template here").as_deref(), Ok("no template here"));
        assert_eq!(
            run("a {{- /* c */ -}} b {{- .region -}} !").as_deref(),
            Ok("abeast!")
        );
        assert_eq!(
            run("{{ `raw` }}{{ \"q\\t\" }}{{ 3 }}{{ 1.5 }}{{ true }}{{ 'a' }}").as_deref(),
            Ok("rawq\t31.5true97")
        );
        assert_eq!(
            run("{{ . }}").as_deref(),
            Ok("map[clusterName:cluster1 empty: n:3 region:east]")
        );
        assert_eq!(run("{{ $.region }}").as_deref(), Ok("east"));
    }

    #[test]
    fn missing_keys_and_bad_fields_are_errors() {
        assert_eq!(
            run("URL is {{ .clusterURL }}"),
            Err(r#"template: t:1:10: executing "t" at <.clusterURL>: map has no entry for key "clusterURL""#.to_owned())
        );
        assert_eq!(
            run("x\n  {{ .region.x }}"),
            Err(r#"template: t:2:12: executing "t" at <.region.x>: can't evaluate field x in type string"#.to_owned())
        );
        assert_eq!(
            run("{{ .region 1 }}"),
            Err(r#"template: t:1:3: executing "t" at <.region>: region is not a method but has arguments"#.to_owned())
        );
        assert_eq!(
            run("{{ nil }}"),
            Err(r#"template: t:1:3: executing "t" at <nil>: nil is not a command"#.to_owned())
        );
        assert!(run("{{ index . \"missing\" }}").is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn control_structures() {
        assert_eq!(
            run(r#"{{if eq .region "east"}}E{{else if eq .region "west"}}W{{else}}?{{end}}"#)
                .as_deref(),
            Ok("E")
        );
        assert_eq!(
            run("{{if .empty}}yes{{else}}no{{end}}").as_deref(),
            Ok("no")
        );
        assert_eq!(
            run("{{with .region}}[{{.}}]{{end}}{{with .empty}}x{{else}}none{{end}}").as_deref(),
            Ok("[east]none")
        );
        assert_eq!(
            run("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}").as_deref(),
            Ok("clusterName=cluster1;empty=;n=3;region=east;")
        );
        assert_eq!(
            run("{{range $i := 5}}{{if eq $i 3}}{{break}}{{end}}{{$i}}{{end}}").as_deref(),
            Ok("012")
        );
        assert_eq!(
            run("{{range 4}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}").as_deref(),
            Ok("023")
        );
        assert_eq!(
            run("{{range 0}}x{{else}}empty{{end}}").as_deref(),
            Ok("empty")
        );
        assert_eq!(
            run("{{$x := .region}}{{$x = printf \"%s!\" $x}}{{$x}}").as_deref(),
            Ok("east!")
        );
        assert_eq!(
            run("{{ .region | printf \"%s-%s\" .clusterName }}").as_deref(),
            Ok("cluster1-east")
        );
        assert_eq!(
            run("{{ (printf \"%d\" 7) | len }} {{ and 1 0 2 }} {{ or 0 \"\" \"z\" }} {{ not 0 }}")
                .as_deref(),
            Ok("1 0 z true")
        );
        assert_eq!(
            run("{{ slice .clusterName 0 7 }}").as_deref(),
            Ok("cluster")
        );
    }

    #[test]
    fn execution_errors() {
        assert_eq!(
            run("{{ lt 1 }}"),
            Err(r#"template: t:1:3: executing "t" at <lt>: wrong number of args for lt: want 2 got 1"#.to_owned())
        );
        assert_eq!(
            run("{{ eq .region 1 }}"),
            Err(r#"template: t:1:3: executing "t" at <eq>: error calling eq: incompatible types for comparison"#.to_owned())
        );
        assert_eq!(
            run("{{ .region | .clusterName }}"),
            Err(r#"template: t:1:13: executing "t" at <.clusterName>: clusterName is not a method but has arguments"#.to_owned())
        );
        assert_eq!(
            run("{{ printf 3 }}"),
            Err(r#"template: t:1:10: executing "t" at <3>: expected string; found 3"#.to_owned())
        );
        assert!(
            run("{{range 2000000}}{{end}}")
                .is_err_and(|e| e.ends_with("template execution exceeds 1000000 steps"))
        );
        assert!(
            run("{{range .region}}{{end}}")
                .is_err_and(|e| e.ends_with("range can't iterate over east"))
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(
            run("{{ + }}"),
            Err(r#"template: t:1: illegal number syntax: "+""#.to_owned())
        );
        assert_eq!(
            run("{{if true}}"),
            Err("template: t:1: unexpected EOF".to_owned())
        );
        assert_eq!(
            run("{{ html \"x\" }}"),
            Err(r#"template: t:1: function "html" not defined"#.to_owned())
        );
    }
}
