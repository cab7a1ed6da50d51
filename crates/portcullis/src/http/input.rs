//! Request bodies and query strings into typed values, with every problem a clear 4xx.
//!
//! [`Body<T>`] is the one body extractor: JSON, and for the types that allow it
//! ([`RequestBody::FORM`]: login and register) `application/x-www-form-urlencoded`. What it
//! answers, in this order:
//!
//! ```text
//!   content type neither JSON nor an allowed form ─▶ 415 unsupported_media_type
//!   body over the limit                            ─▶ 413 payload_too_large
//!   not JSON / not UTF-8                           ─▶ 400 malformed_request
//!   JSON but not an object                         ─▶ 422, field `(body)`
//!   missing or mistyped fields                     ─▶ 422 listing every one (not only the first)
//!   unknown fields                                 ─▶ ignored
//! ```
//!
//! Every field error is listed because the types derive `eserde::Deserialize`, which re-reads a
//! body that failed and collects all errors. Optional fields carry `#[serde(default)]` (eserde
//! reports an absent `Option` without it). Field types with their own rules ([`Text`], [`Flag`],
//! [`Nullable`], [`Names`], [`crate::password::Password`], [`crate::redirect::ReturnTo`])
//! report their own message through [`report_own`].
//!
//! Query strings ([`Query<T>`]) are read the same way; an empty value counts as absent.

use std::borrow::Cow;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use crate::error::{Error, ErrorKind, FieldError};
use crate::http::error::ApiError;

/// A typed request body.
pub trait RequestBody: for<'de> eserde::EDeserialize<'de> {
    /// Whether the route also takes `application/x-www-form-urlencoded`.
    const FORM: bool = false;
}

/// A request body read as `T`; a body that cannot be is refused with its 4xx.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let submitted = Submitted::<T>::from_request(req, state).await.unwrap_or_else(|never| match never {});
        Ok(Self(submitted.body?))
    }
}

/// A request body read as `T` or refused, beside its `csrf_token` field: routes that judge CSRF
/// before the body, as Flask-WTF does, still see a token sent in a form that is otherwise wrong.
#[derive(Debug)]
pub struct Submitted<T> {
    /// The body, or the 4xx it gets.
    pub body: Result<T, Error>,
    /// The `csrf_token` field, when the body could be read that far.
    pub csrf_token: Option<String>,
}

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Submitted<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let refused = |error| Self { body: Err(error), csrf_token: None };
        let media = media_type(&req);
        let form = match media.as_deref() {
            Some("application/json") => false,
            Some(ct) if ct.starts_with("application/") && ct.ends_with("+json") => false,
            Some("application/x-www-form-urlencoded") if T::FORM => true,
            _ => {
                let allowed = if T::FORM {
                    "send application/json or application/x-www-form-urlencoded"
                } else {
                    "send application/json"
                };
                return Ok(refused(Error::new(ErrorKind::UnsupportedMediaType, allowed)));
            }
        };
        let bytes = match Bytes::from_request(req, state).await {
            Ok(bytes) => bytes,
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                let detail = "the request body is larger than the server accepts";
                return Ok(refused(Error::new(ErrorKind::PayloadTooLarge, detail)));
            }
            Err(_) => {
                return Ok(refused(Error::new(ErrorKind::MalformedRequest, "the request body could not be read")))
            }
        };
        let map = match if form { parse_form(&bytes) } else { parse_json(&bytes) } {
            Ok(map) => map,
            Err(error) => return Ok(refused(error)),
        };
        let csrf_token = map.get("csrf_token").and_then(Value::as_str).map(str::to_owned);
        // A form is re-read as the JSON object of its fields, so both go through one reader.
        let json: Cow<'_, [u8]> =
            if form { Cow::Owned(serde_json::to_vec(&map).unwrap_or_default()) } else { Cow::Borrowed(&bytes) };
        Ok(Self { body: typed::<T>(&json), csrf_token })
    }
}

fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// A typed query string.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: for<'de> eserde::EDeserialize<'de>> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or_default().as_bytes();
        let mut map = parse_form(raw)?;
        map.retain(|_, v| v.as_str().is_none_or(|s| !s.is_empty()));
        let json = serde_json::to_vec(&map).unwrap_or_default();
        Ok(Self(typed(&json)?))
    }
}

/// `T` from a JSON object, or a 422 listing every field error.
fn typed<T: for<'de> eserde::EDeserialize<'de>>(json: &[u8]) -> Result<T, Error> {
    eserde::json::from_slice::<T>(json).map_err(|errors| {
        let fields = errors.iter().map(|e| field_error(e.path().map(ToString::to_string), e.message())).collect();
        Error::validation(fields)
    })
}

/// One error as the contract lists it: the top-level field it is in, and what is wrong, without
/// serde_json's position (meaningless for a form).
fn field_error(path: Option<String>, message: &str) -> FieldError {
    let message = match message.rfind(" at line ") {
        Some(at) if message[at..].contains(" column ") => &message[..at],
        _ => message,
    };
    if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        return FieldError { field: name.to_owned(), message: "is required".into() };
    }
    let path = path.unwrap_or_default();
    let top = path.split(['.', '[']).find(|s| !s.is_empty()).unwrap_or("(body)");
    FieldError { field: top.to_owned(), message: message.to_owned() }
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
        return Err(Error::new(ErrorKind::MalformedRequest, "the form is not UTF-8"));
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
    let plus_as_space: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&plus_as_space).decode_utf8_lossy().into_owned()
}

/// How a field type with its own rules (its `Deserialize`) reports its error when eserde
/// re-reads a body for every error: the type's own message, at the field's path.
pub(crate) fn report_own<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<(), ()> {
    T::deserialize(d).map(drop).map_err(eserde::reporter::ErrorReporter::report)
}

/// A string of at most `N` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const N: usize>(pub String);

impl<const N: usize> Text<N> {
    /// The string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.chars().count() > N {
            return Err(serde::de::Error::custom(format!("must be at most {N} characters")));
        }
        Ok(Self(s))
    }
}

impl<'de, const N: usize> eserde::EDeserialize<'de> for Text<N> {
    fn deserialize_for_errors<D: Deserializer<'de>>(d: D) -> Result<(), ()> {
        report_own::<Self, D>(d)
    }
}

impl<const N: usize> utoipa::PartialSchema for Text<N> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).max_length(Some(N)).into()
    }
}

impl<const N: usize> utoipa::ToSchema for Text<N> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Text{N}"))
    }
}

/// A yes/no field: JSON `true`/`false`, or in a form `true`, `on`, `1`, `false`, `off`, `0` or
/// empty (an HTML checkbox).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(Self(b)),
            Value::Null => Ok(Self(false)),
            Value::String(s) => match s.as_str() {
                "true" | "on" | "1" => Ok(Self(true)),
                "false" | "off" | "0" | "" => Ok(Self(false)),
                _ => Err(serde::de::Error::custom("must be true or false")),
            },
            _ => Err(serde::de::Error::custom("must be true or false")),
        }
    }
}

impl<'de> eserde::EDeserialize<'de> for Flag {
    fn deserialize_for_errors<D: Deserializer<'de>>(d: D) -> Result<(), ()> {
        report_own::<Self, D>(d)
    }
}

impl utoipa::PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .description(Some("`true` or `false`; in a form also `on`, `1`, `off`, `0` or empty"))
            .into()
    }
}

impl utoipa::ToSchema for Flag {}

/// A field that can be left out (no change), `null` (clear it) or given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Nullable<T> {
    /// Left out.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A value.
    Set(T),
}

impl<T> Nullable<T> {
    /// `None` when absent, `Some(None)` for `null`.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Self::Absent => None,
            Self::Null => Some(None),
            Self::Set(v) => Some(Some(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Self::Null,
            Some(v) => Self::Set(v),
        })
    }
}

impl<'de, T: Deserialize<'de>> eserde::EDeserialize<'de> for Nullable<T> {
    fn deserialize_for_errors<D: Deserializer<'de>>(d: D) -> Result<(), ()> {
        report_own::<Self, D>(d)
    }
}

/// At most this many names in a list of roles or permissions.
pub const MAX_NAMES: usize = 256;

/// A list of role or permission names (their shape is the domain's to check).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        if names.len() > MAX_NAMES {
            return Err(serde::de::Error::custom(format!("must have at most {MAX_NAMES} entries")));
        }
        Ok(Self(names))
    }
}

impl<'de> eserde::EDeserialize<'de> for Names {
    fn deserialize_for_errors<D: Deserializer<'de>>(d: D) -> Result<(), ()> {
        report_own::<Self, D>(d)
    }
}

impl utoipa::PartialSchema for Names {
    fn schema() -> RefOr<Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::String))
            .max_items(Some(MAX_NAMES))
            .into()
    }
}

impl utoipa::ToSchema for Names {}

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

    #[derive(Debug, eserde::Deserialize)]
    #[allow(dead_code)] // Read only through `Debug` and the errors.
    struct Sample {
        name: Text<4>,
        count: u32,
        #[serde(default)]
        on: Flag,
        #[serde(default)]
        note: Option<String>,
    }

    fn errors_of(json: &str) -> Vec<(String, String)> {
        let err = typed::<Sample>(json.as_bytes()).expect_err("invalid");
        err.fields().iter().map(|f| (f.field.clone(), f.message.clone())).collect()
    }

    #[test]
    fn every_field_error_is_listed_by_its_top_level_name() {
        assert_eq!(
            errors_of("{}"),
            [("name".to_owned(), "is required".to_owned()), ("count".to_owned(), "is required".to_owned())]
        );
        let listed = errors_of(r#"{"name": "too long", "count": "x", "on": "maybe", "note": 5}"#);
        let names: Vec<_> = listed.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(names, ["name", "count", "on", "note"], "{listed:?}");
        assert_eq!(listed[0].1, "must be at most 4 characters");
        assert!(!listed[1].1.contains("line"), "no JSON position: {listed:?}");
    }

    #[test]
    fn optional_fields_may_be_left_out_and_unknown_ones_are_ignored() {
        let ok = typed::<Sample>(br#"{"name": "abcd", "count": 3, "extra": [1]}"#).expect("valid");
        assert_eq!((ok.name.0.as_str(), ok.count, ok.on, ok.note), ("abcd", 3, Flag(false), None));
    }

    #[test]
    fn nullable_tells_absent_from_null() {
        #[derive(Debug, eserde::Deserialize)]
        struct Patch {
            #[serde(default)]
            email: Nullable<String>,
        }
        let absent = typed::<Patch>(b"{}").expect("absent");
        let null = typed::<Patch>(br#"{"email": null}"#).expect("null");
        let set = typed::<Patch>(br#"{"email": "a@b"}"#).expect("set");
        assert_eq!(absent.email.into_change(), None);
        assert_eq!(null.email.into_change(), Some(None));
        assert_eq!(set.email.into_change(), Some(Some("a@b".to_owned())));
    }
}
