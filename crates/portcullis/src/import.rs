//! Bulk import of accounts whose password hashes were made by another app, so its users move over
//! without resetting their passwords.
//!
//! Two input formats, told apart by the first non-blank line:
//!
//! | format | first line | each further line |
//! |---|---|---|
//! | CSV | header: `username,password_hash[,roles][,email]` | one account; roles `;`-separated |
//! | JSON lines | `{` | `{"username", "password_hash", "roles": [..], "email"?}` |
//!
//! CSV fields may be quoted as RFC 4180 says (argon2 hashes contain commas), but a quoted field
//! cannot span lines.
//!
//! Every line stands alone: a bad line is reported with its number and reason and the others go
//! on. A hash is stored as it is (no plaintext exists to rehash); it must be a format
//! [`recognised_hash`](crate::password::recognised_hash) accepts, and the first successful login
//! replaces it with argon2id. A username that already exists (ignoring case) is skipped, never
//! overwritten, so running the same import twice is harmless. Reports never contain hashes.

use std::fmt;

use crate::account::MAX_USERNAME_CHARS;
use crate::account::{NewUser, MAX_NAME_CHARS};
use crate::clock::SharedClock;
use crate::error::{Error, ErrorKind, Result};
use crate::password::legacy;
use crate::store::{StoreError, UserStore};
use crate::username::UsernameRules;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The format the input was read as.
    pub format: Option<Format>,
    /// Accounts created.
    pub imported: usize,
    /// Lines not imported, in file order.
    pub skipped: Vec<SkippedLine>,
}

/// A line that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// 1-based line number in the input (the CSV header is line 1).
    pub line: usize,
    /// Why.
    pub reason: SkipReason,
}

/// Why a line was not imported. The descriptions never quote a password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The line could not be read as a record (wrong field count, bad quoting, not JSON, ...).
    Malformed(String),
    /// The username breaks the username rules.
    InvalidUsername(&'static str),
    /// The password hash is not a format Portcullis verifies, or asks for too much work.
    UnrecognisedHash(&'static str),
    /// The email is not an address.
    InvalidEmail,
    /// A role name is not one the admin API would accept ([`crate::account::name_problem`]).
    InvalidRole,
    /// The username already exists (in the store, or earlier in the same input).
    Conflict,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Malformed(why) => write!(f, "malformed line: {why}"),
            SkipReason::InvalidUsername(why) => write!(f, "username {why}"),
            SkipReason::UnrecognisedHash(why) => f.write_str(why),
            SkipReason::InvalidEmail => f.write_str("email must be an email address"),
            SkipReason::InvalidRole => {
                write!(f, "roles must be names of 1-{MAX_NAME_CHARS} characters of a-z, 0-9, `_`, `:`, `.` and `-`")
            }
            SkipReason::Conflict => f.write_str("username already exists; the existing account is unchanged"),
        }
    }
}

/// The input's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

/// An account read from the input, ready to create.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line number in the input.
    pub line: usize,
    /// The account, with its hash as given.
    pub user: NewUser,
}

/// Parses `input` into accounts to create and lines to skip, in input order. Nothing is stored.
///
/// Fails only when the input as a whole is unusable: no records at all, or a CSV header without
/// the `username` and `password_hash` columns.
pub fn parse(input: &str) -> Result<(Format, Vec<Result<Record, SkippedLine>>)> {
    // A byte-order mark is what spreadsheet programs put before a CSV export.
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut lines = input.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty());
    let Some((first_no, first)) = lines.next() else {
        return Err(unusable("the input has no records".into()));
    };
    let (format, columns) = if first.trim_start().starts_with('{') {
        (Format::JsonLines, None)
    } else {
        (Format::Csv, Some(Columns::from_header(first_no, first)?))
    };
    let body: Box<dyn Iterator<Item = (usize, &str)>> = match format {
        Format::JsonLines => Box::new(std::iter::once((first_no, first)).chain(lines)),
        Format::Csv => Box::new(lines),
    };
    let records = body
        .map(|(line, text)| {
            let user = match &columns {
                Some(columns) => columns.record(text),
                None => json_record(text),
            };
            user.and_then(validate).map(|user| Record { line, user }).map_err(|reason| SkippedLine { line, reason })
        })
        .collect();
    Ok((format, records))
}

/// Parses `input` and creates its accounts, one at a time; see the module docs.
///
/// Stops with an error only when the input is unusable or the store fails (other than a taken
/// username); accounts created before a store failure stay, and a rerun skips them as conflicts.
pub(crate) async fn import(
    store: &dyn UserStore,
    clock: &SharedClock,
    names: UsernameRules,
    input: &str,
) -> Result<ImportReport> {
    let (format, records) = parse(input)?;
    let mut report = ImportReport { format: Some(format), ..ImportReport::default() };
    for record in records {
        let mut record = match record {
            Ok(record) => record,
            Err(skipped) => {
                report.skipped.push(skipped);
                continue;
            }
        };
        // The operator's rules (ASCII only, mixed scripts) on top of the ones `parse` applies;
        // the account is stored under the width-mapped NFC name, as at registration.
        match names.check(&record.user.username) {
            Ok(name) => record.user.username = name.display,
            Err(problem) => {
                report.skipped.push(SkippedLine { line: record.line, reason: SkipReason::InvalidUsername(problem) });
                continue;
            }
        }
        match store.create_user(record.user, clock.now()).await {
            Ok(_) => report.imported += 1,
            // Never overwrite: an existing account keeps its password and roles.
            Err(StoreError::Conflict(_)) => {
                report.skipped.push(SkippedLine { line: record.line, reason: SkipReason::Conflict });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

fn unusable(detail: String) -> Error {
    Error::new(ErrorKind::ValidationFailed, detail)
}

/// Checks what the store does not: the username's shape, the hash, the email and the roles.
fn validate(mut user: NewUser) -> Result<NewUser, SkipReason> {
    // The rules no operator can relax; `import` applies the configured ones.
    let loosest = UsernameRules { ascii_only: false, allow_mixed_scripts: true };
    if let Err(problem) = loosest.check(&user.username) {
        return Err(SkipReason::InvalidUsername(problem));
    }
    if let Some(problem) = legacy::hash_problem(&user.password_hash) {
        return Err(SkipReason::UnrecognisedHash(problem.describe()));
    }
    if user.email.as_deref().and_then(crate::account::email_problem).is_some() {
        return Err(SkipReason::InvalidEmail);
    }
    // The same rule as roles created through the admin API: one definition of a role name.
    if user.roles.iter().any(|r| crate::account::name_problem(r).is_some()) {
        return Err(SkipReason::InvalidRole);
    }
    user.roles.sort();
    user.roles.dedup();
    Ok(user)
}

/// The CSV header: where each known column is.
#[derive(Debug)]
struct Columns {
    count: usize,
    username: usize,
    password_hash: usize,
    roles: Option<usize>,
    email: Option<usize>,
}

impl Columns {
    fn from_header(no: usize, line: &str) -> Result<Self> {
        let names = split_csv(line).map_err(|why| unusable(format!("line {no} (the CSV header): {why}")))?;
        let (mut username, mut password_hash, mut roles, mut email) = (None, None, None, None);
        for (i, name) in names.iter().enumerate() {
            let slot = match name.trim() {
                "username" => &mut username,
                "password_hash" => &mut password_hash,
                "roles" => &mut roles,
                "email" => &mut email,
                other => {
                    let shown: String = other.chars().take(MAX_USERNAME_CHARS).collect();
                    return Err(unusable(format!(
                        "line {no} (the CSV header): unknown column `{}`; known: username, password_hash, roles, email",
                        shown.escape_debug()
                    )));
                }
            };
            if slot.replace(i).is_some() {
                return Err(unusable(format!("line {no} (the CSV header): column `{}` appears twice", name.trim())));
            }
        }
        let (Some(username), Some(password_hash)) = (username, password_hash) else {
            return Err(unusable(format!(
                "line {no} must be a CSV header with username and password_hash columns, or a JSON object"
            )));
        };
        Ok(Self { count: names.len(), username, password_hash, roles, email })
    }

    fn record(&self, line: &str) -> Result<NewUser, SkipReason> {
        let mut fields = split_csv(line).map_err(|why| SkipReason::Malformed(why.into()))?;
        if fields.len() != self.count {
            return Err(SkipReason::Malformed(format!("expected {} fields, found {}", self.count, fields.len())));
        }
        let mut take = |i: usize| std::mem::take(&mut fields[i]);
        let roles = self.roles.map(&mut take).unwrap_or_default();
        let email = self.email.map(&mut take).filter(|e| !e.is_empty());
        Ok(NewUser {
            username: take(self.username),
            password_hash: take(self.password_hash),
            roles: roles.split(';').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect(),
            email,
        })
    }
}

/// Splits one CSV line (RFC 4180: `"` quotes a field, `""` is a quote inside one). A quoted field
/// cannot span lines.
fn split_csv(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("a quoted field is not closed on its line"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a closing quote"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// One JSON-lines record. Messages name fields, never values.
fn json_record(line: &str) -> Result<NewUser, SkipReason> {
    let malformed = |why: &str| SkipReason::Malformed(why.to_owned());
    let value: serde_json::Value = serde_json::from_str(line).map_err(|_| malformed("not valid JSON"))?;
    let serde_json::Value::Object(mut object) = value else {
        return Err(malformed("expected a JSON object"));
    };
    let mut string = |key: &str| match object.remove(key) {
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(_) => Err(SkipReason::Malformed(format!("{key} must be a string"))),
    };
    let username = string("username")?.ok_or_else(|| malformed("username is missing"))?;
    let password_hash = string("password_hash")?.ok_or_else(|| malformed("password_hash is missing"))?;
    let email = string("email")?.filter(|e| !e.is_empty());
    let roles = match object.remove("roles") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(malformed("roles must be a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(malformed("roles must be a list of strings")),
    };
    if let Some(key) = object.keys().next() {
        let shown: String = key.chars().take(MAX_USERNAME_CHARS).collect();
        return Err(SkipReason::Malformed(format!(
            "unknown field `{}`; expected username, password_hash, roles, email",
            shown.escape_debug()
        )));
    }
    Ok(NewUser { username, password_hash, roles, email })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = include_str!("../tests/fixtures/legacy-users.csv");
    const JSONL: &str = include_str!("../tests/fixtures/legacy-users.jsonl");
    // werkzeug pbkdf2:sha256:1000 from the CSV fixture.
    const BOB: &str =
        "pbkdf2:sha256:1000$ZCN5yQ89JHdh02ar$660cadc08668a8eac81884a25bab0d907258dc5aaf0bacfc8019c412e4cf0bc7";

    fn ok(records: &[Result<Record, SkippedLine>]) -> Vec<&Record> {
        records.iter().filter_map(|r| r.as_ref().ok()).collect()
    }

    #[test]
    fn the_fixtures_parse_completely() {
        let (format, records) = parse(CSV).unwrap();
        assert_eq!(format, Format::Csv);
        let users = ok(&records);
        assert_eq!(users.len(), records.len(), "every fixture line is valid");
        assert_eq!(users.len(), 10);
        let alice = users[0];
        assert_eq!((alice.line, alice.user.username.as_str()), (2, "alice"));
        assert_eq!(alice.user.roles, ["admin", "editor"]);
        assert_eq!(alice.user.email.as_deref(), Some("alice@example.com"));
        assert!(alice.user.password_hash.starts_with("pbkdf2:sha256:1000000$"));
        let erin = users.iter().find(|r| r.user.username == "erin").unwrap();
        assert!(erin.user.password_hash.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "quoted field with commas");
        assert_eq!(users[1].user.email, None);

        let (format, records) = parse(JSONL).unwrap();
        assert_eq!(format, Format::JsonLines);
        let users = ok(&records);
        assert_eq!(users.len(), 5);
        assert_eq!((users[0].line, users[0].user.roles.as_slice()), (1, &["admin".to_owned()][..]));
        assert!(users.iter().any(|r| r.user.username == "Zoë"));
    }

    #[test]
    fn bad_csv_lines_are_skipped_with_their_line_number() {
        let input = format!(
            "\u{feff}username,password_hash,roles\r\n\
             ok,{BOB},a;b; a\r\n\
             \r\n\
             short,{BOB}\n\
             \" spaced\",{BOB},\n\
             plain,hunter2,\n\
             quote,\"{BOB},\n\
             \"we\"\"ird\",{BOB},\n\
             bad-role,{BOB},has space\n\
             costly,$2b$31$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K,\n"
        );
        let (_, records) = parse(&input).unwrap();
        let users = ok(&records);
        let names: Vec<_> = users.iter().map(|r| (r.line, r.user.username.as_str())).collect();
        assert_eq!(names, [(2, "ok"), (8, "we\"ird")]);
        assert_eq!(users[0].user.roles, ["a", "b"], "trimmed, sorted, deduplicated");
        let skipped: Vec<_> = records.iter().filter_map(|r| r.as_ref().err()).map(|s| (s.line, &s.reason)).collect();
        assert!(matches!(skipped[0], (4, SkipReason::Malformed(m)) if m == "expected 3 fields, found 2"));
        assert!(matches!(skipped[1], (5, SkipReason::InvalidUsername(_))));
        assert!(matches!(skipped[2], (6, SkipReason::UnrecognisedHash(_))));
        assert!(matches!(skipped[3], (7, SkipReason::Malformed(_))));
        assert!(matches!(skipped[4], (9, SkipReason::InvalidRole)));
        assert!(matches!(skipped[5], (10, SkipReason::UnrecognisedHash(m)) if m.contains("more work")));
        assert_eq!(skipped.len(), 6);
        for (_, reason) in skipped {
            let shown = reason.to_string();
            assert!(!shown.contains("ZCN5") && !shown.contains("hunter2") && !shown.contains("JDHw"), "{shown}");
        }
    }

    #[test]
    fn bad_json_lines_are_skipped_and_never_echo_values() {
        let input = [
            format!(r#"{{"username":"a","password_hash":"{BOB}"}}"#),
            format!(r#"{{"username":"b","password_hash":"{BOB}","roles":"{BOB}"}}"#),
            format!(r#"{{"username":"c","password_hash":["{BOB}"]}}"#),
            format!(r#"{{"username":"d","password_hash":"{BOB}","extra":1}}"#),
            format!(r#"{{"username":"e","password_hash":"{BOB}""#),
            format!(r#"["{BOB}"]"#),
            r#"{"username":"f"}"#.to_owned(),
            format!(r#"{{"username":"g","password_hash":"{BOB}","email":"not-an-address"}}"#),
            format!(r#"{{"username":"h","password_hash":"{BOB}","email":null,"roles":null}}"#),
        ]
        .join("\n");
        let (format, records) = parse(&input).unwrap();
        assert_eq!(format, Format::JsonLines);
        let users = ok(&records);
        assert_eq!(users.iter().map(|r| r.user.username.as_str()).collect::<Vec<_>>(), ["a", "h"]);
        let skipped: Vec<_> = records.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(skipped[6].reason, SkipReason::InvalidEmail);
        for s in skipped {
            assert!(!s.reason.to_string().contains("ZCN5"), "{}", s.reason);
        }
    }

    #[test]
    fn unusable_inputs_are_errors() {
        for input in ["", "\n  \n", "user,hash\nx,y", "username,password_hash,username\n", "username,roles\n", "\"a\n"]
        {
            let err = parse(input).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValidationFailed, "{input:?}");
        }
        let (_, records) = parse("username,password_hash\n").unwrap();
        assert!(records.is_empty(), "a header alone is no error, just nothing to do");
    }

    #[test]
    fn csv_splitting() {
        assert_eq!(split_csv("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(split_csv("").unwrap(), [""]);
        assert_eq!(split_csv(r#""a,b","""",x"#).unwrap(), ["a,b", "\"", "x"]);
        assert_eq!(split_csv(r#""é",ü"#).unwrap(), ["é", "ü"]);
        assert!(split_csv(r#""a"b"#).is_err());
        assert!(split_csv(r#"a"b"#).is_err());
        assert!(split_csv(r#""abc"#).is_err());
    }

    #[test]
    fn role_names_follow_the_admin_api_rule() {
        let hash = BOB;
        for (roles, ok) in
            [("editor;posts:write", true), ("Editor", false), ("two words", false), ("x".repeat(65).as_str(), false)]
        {
            let (_, records) = parse(&format!("username,password_hash,roles\nkim,{hash},{roles}\n")).unwrap();
            let skipped = records.iter().filter_map(|r| r.as_ref().err()).map(|s| &s.reason).collect::<Vec<_>>();
            assert_eq!(skipped.is_empty(), ok, "{roles}: {skipped:?}");
            assert!(ok || matches!(skipped[0], SkipReason::InvalidRole), "{roles}");
            assert_eq!(crate::account::name_problem(roles.split(';').next().unwrap_or_default()).is_none(), ok);
        }
    }
}
