//! Bearer tokens kept in `DIR/tokens.csv`, in kube-apiserver's `--token-auth-file` format:
//! `token,user,uid,"group1,group2"` per line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use super::authn::UserInfo;
use super::{SecurityError, files};

/// The tokens of one space, in memory, persisted to the token file on every change.
pub struct TokenStore {
    path: PathBuf,
    by_token: RwLock<HashMap<String, UserInfo>>,
    /// Lines in file order (token, identity), so rewrites keep the file stable.
    lines: Mutex<Vec<(String, UserInfo)>>,
}

impl TokenStore {
    /// Loads the token file (an absent file means no tokens; it is created, mode 0600).
    pub fn open(path: &Path) -> Result<TokenStore, SecurityError> {
        let lines = match files::read_optional(path)? {
            Some(text) => parse(path, &text)?,
            None => {
                files::write(path, b"", true)?;
                Vec::new()
            }
        };
        Ok(TokenStore {
            path: path.to_path_buf(),
            by_token: RwLock::new(lines.iter().cloned().collect()),
            lines: Mutex::new(lines),
        })
    }

    /// The identity a token stands for.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        self.by_token
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Creates a new random token for `user` in `groups`, appends it to the token file and
    /// returns it. The uid recorded is the user name.
    pub fn issue(&self, user: &str, groups: &[String]) -> Result<String, SecurityError> {
        check_identity(user, groups)?;
        // Two v4 UUIDs: 244 random bits from the OS generator.
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let info = UserInfo {
            name: user.to_string(),
            uid: user.to_string(),
            groups: groups.to_vec(),
        };
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.push((token.clone(), info.clone()));
        if let Err(e) = files::write(&self.path, render(&lines).as_bytes(), true) {
            lines.pop();
            return Err(e);
        }
        self.by_token
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), info);
        Ok(token)
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Rejects names the token file or a certificate subject cannot carry faithfully.
pub(crate) fn check_identity(user: &str, groups: &[String]) -> Result<(), SecurityError> {
    if user.trim().is_empty() {
        return Err(SecurityError::InvalidIdentity("empty user name".into()));
    }
    for s in std::iter::once(user).chain(groups.iter().map(String::as_str)) {
        if s.chars().any(char::is_control) {
            return Err(SecurityError::InvalidIdentity(format!(
                "{s:?} contains a control character"
            )));
        }
    }
    if let Some(g) = groups.iter().find(|g| g.is_empty() || g.contains(',')) {
        return Err(SecurityError::InvalidIdentity(format!(
            "group {g:?} is empty or contains a comma"
        )));
    }
    Ok(())
}

fn parse(path: &Path, text: &str) -> Result<Vec<(String, UserInfo)>, SecurityError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| SecurityError::TokenFile {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line).map_err(err)?;
        if fields.len() < 3 {
            return Err(err(format!(
                "{} fields, want at least 3 (token,user,uid[,groups])",
                fields.len()
            )));
        }
        if fields[0].is_empty() || fields[1].is_empty() {
            return Err(err("empty token or user".into()));
        }
        let groups = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        out.push((
            fields[0].clone(),
            UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
            },
        ));
    }
    Ok(out)
}

/// Splits one CSV record: fields may be quoted, `""` inside quotes is a quote.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' if quoted => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote".into());
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            _ => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(cur);
    Ok(fields)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn render(lines: &[(String, UserInfo)]) -> String {
    lines
        .iter()
        .map(|(t, u)| {
            format!(
                "{},{},{},{}\n",
                quote(t),
                quote(&u.name),
                quote(&u.uid),
                quote(&u.groups.join(","))
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_token_files() {
        let p = Path::new("t.csv");
        let v = parse(
            p,
            "# comment\nabc,bob,u1,\"g1,g2\"\n\"x,y\",\"al\"\"ice\",u2\n",
        )
        .expect("parses");
        assert_eq!(v[0].0, "abc");
        assert_eq!(v[0].1.groups, vec!["g1", "g2"]);
        assert_eq!(v[1].0, "x,y");
        assert_eq!(v[1].1.name, "al\"ice");
        assert!(v[1].1.groups.is_empty());
        assert!(parse(p, "only,two\n").is_err());
        assert!(parse(p, "\"open,bob,u\n").is_err());
        let again = parse(p, &render(&v)).expect("round trip");
        assert_eq!(again, v);
    }
}
