//! Request bodies: JSON or form-urlencoded into a field map, with every problem a clear 4xx.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, FieldError};
use crate::password::Password;

/// A JSON object or form body, as field name → value.
#[derive(Debug, Default)]
pub struct Input {
    fields: Map<String, Value>,
}

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::new(ErrorKind::PayloadTooLarge, "the request body is larger than the server accepts")
            } else {
                Error::new(ErrorKind::MalformedRequest, "the request body could not be read")
            }
        })?;
        let fields = match content_type.as_deref() {
            Some("application/json") => parse_json(&bytes)?,
            Some(ct) if ct.starts_with("application/") && ct.ends_with("+json") => parse_json(&bytes)?,
            Some("application/x-www-form-urlencoded") => parse_form(&bytes)?,
            _ => {
                return Err(Error::new(
                    ErrorKind::UnsupportedMediaType,
                    "send application/json or application/x-www-form-urlencoded",
                ))
            }
        };
        Ok(Self { fields })
    }
}

fn parse_json(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => {
            Err(Error::validation(vec![FieldError { field: "(body)".into(), message: "must be a JSON object".into() }]))
        }
        Err(e) => Err(Error::new(
            ErrorKind::MalformedRequest,
            format!("the body is not valid JSON: line {} column {}", e.line(), e.column()),
        )),
    }
}

fn parse_form(bytes: &[u8]) -> Result<Map<String, Value>, Error> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(Error::new(ErrorKind::MalformedRequest, "the form body is not UTF-8"));
    }
    let mut map = Map::new();
    for (k, v) in form_urlencoded_pairs(bytes) {
        // The first value of a repeated field wins.
        map.entry(k).or_insert(Value::String(v));
    }
    Ok(map)
}

fn form_urlencoded_pairs(bytes: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    bytes.split(|&b| b == b'&').filter(|p| !p.is_empty()).map(|pair| {
        let mut it = pair.splitn(2, |&b| b == b'=');
        let key = decode_component(it.next().unwrap_or_default());
        let value = decode_component(it.next().unwrap_or_default());
        (key, value)
    })
}

fn decode_component(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl Input {
    /// Reads the fields with a [`Fields`] collector.
    pub fn fields(&self) -> Fields<'_> {
        Fields { map: &self.fields, errors: Vec::new() }
    }

    /// The `username` and `password` of a login, or 422 listing what is wrong with them.
    pub fn credentials(&self, max_password_chars: usize) -> Result<(String, Password), Error> {
        let mut fields = self.fields();
        let username = fields.required("username", crate::account::MAX_USERNAME_CHARS);
        let password = Password::new(fields.required("password", max_password_chars));
        fields.finish()?;
        Ok((username, password))
    }

    /// A string field, if present.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }
}

/// Collects every field error of a request before answering 422.
#[derive(Debug)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields<'_> {
    /// A required string of at most `max_chars` characters.
    pub fn required(&mut self, name: &str, max_chars: usize) -> String {
        match self.map.get(name) {
            None | Some(Value::Null) => self.error(name, "is required"),
            Some(Value::String(s)) if s.chars().count() > max_chars => {
                self.error(name, &format!("must be at most {max_chars} characters"))
            }
            Some(Value::String(s)) => return s.clone(),
            Some(_) => self.error(name, "must be a string"),
        }
        String::new()
    }

    /// An optional string of at most `max_chars` characters.
    pub fn optional(&mut self, name: &str, max_chars: usize) -> Option<String> {
        match self.map.get(name) {
            None | Some(Value::Null) => None,
            Some(_) => Some(self.required(name, max_chars)),
        }
    }

    /// An optional boolean: JSON `true`/`false`, or in a form `true`, `on`, `1`, `false`, `off`,
    /// `0` or empty. Absent is `false`.
    pub fn flag(&mut self, name: &str) -> bool {
        match self.map.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => match s.as_str() {
                "true" | "on" | "1" => true,
                "false" | "off" | "0" | "" => false,
                _ => {
                    self.error(name, "must be true or false");
                    false
                }
            },
            Some(_) => {
                self.error(name, "must be true or false");
                false
            }
        }
    }

    /// An optional return-to path (`next`): a path on this site, or a 422 naming the field.
    pub fn return_to(&mut self) -> Option<String> {
        let next = self.optional("next", crate::redirect::MAX_NEXT)?;
        match crate::redirect::safe_next(&next) {
            Some(path) => Some(path.to_owned()),
            None => {
                self.error("next", "must be a path on this site, like /app");
                None
            }
        }
    }

    /// Fails with every collected field error, if any.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::validation(self.errors))
        }
    }

    fn error(&mut self, name: &str, message: &str) {
        self.errors.push(FieldError { field: name.into(), message: message.into() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let map = parse_form(b"username=a%20b&password=p+w%3D&username=second&bad=%zz&tail=%4").expect("form");
        assert_eq!(map["username"], "a b");
        assert_eq!(map["password"], "p w=");
        assert_eq!(map["bad"], "%zz");
        assert_eq!(map["tail"], "%4");
        assert!(parse_form(&[0x66, 0xff]).is_err());
    }

    #[test]
    fn fields_collect_every_error() {
        let map = parse_json(br#"{"username": 5, "email": null}"#).expect("json");
        let input = Input { fields: map };
        let mut fields = input.fields();
        fields.required("username", 64);
        fields.required("password", 64);
        assert_eq!(fields.optional("email", 10), None);
        let err = fields.finish().expect_err("invalid");
        let names: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["username", "password"]);
    }
}
