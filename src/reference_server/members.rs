//! Reads a request body into a `serde` type — the crate's API request types, or the server's
//! own request structs — with the errors Cognito gives for each way a member can be wrong.
//!
//! `serde_json::from_value` would do the reading, but its errors do not name the member, and
//! the AWS JSON protocol does: a member of the wrong JSON type is `SerializationException`
//! "Member 'X' must be a string"; a required member absent (or `null`) is
//! `InvalidParameterException` "1 validation error detected: Value null at 'x' failed to
//! satisfy constraint: Member must not be null". So the body is first parsed as JSON (which
//! tells malformed JSON from a body that is not an object), then fed to the type's
//! `Deserialize` through [`Member`], a deserializer over a parsed value that remembers which
//! member it reads and checks the JSON type each `deserialize_*` call asks for. As in the AWS
//! JSON protocol, a member whose value is `null` counts as absent.

use core::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::Value;

use super::wire::Refusal;

/// Reads `body` (a parsed JSON object) as `T`.
pub(crate) fn read<T: DeserializeOwned>(body: &Value) -> Result<T, Refusal> {
    T::deserialize(Member {
        value: body,
        name: "",
        in_list: false,
    })
    .map_err(Refusal::from)
}

/// The JSON type a member was expected to have, as the error message words it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    String,
    Boolean,
    Integer,
    Number,
    Structure,
    List,
    Null,
}

impl Kind {
    fn phrase(self, in_list: bool) -> &'static str {
        match (self, in_list) {
            // Every list member of the operations served (ExplicitAuthFlows) is a list of
            // strings, and a list member's error names the list, as Cognito's does.
            (Kind::List, _) | (Kind::String, true) => "a list of strings",
            (Kind::String, false) => "a string",
            (Kind::Boolean, false) => "a boolean",
            (Kind::Boolean, true) => "a list of booleans",
            (Kind::Integer, false) => "an integer",
            (Kind::Integer, true) => "a list of integers",
            (Kind::Number, false) => "a number",
            (Kind::Number, true) => "a list of numbers",
            (Kind::Structure, false) => "a structure",
            (Kind::Structure, true) => "a list of structures",
            (Kind::Null, _) => "null",
        }
    }
}

/// Why a body could not be read as the request type.
#[derive(Debug)]
pub(crate) enum MemberError {
    /// A member of the wrong JSON type.
    Type {
        /// The member's name as sent (`AccessToken`, `Enabled`, …).
        member: String,
        /// What it should have been, as the message words it.
        expected: &'static str,
    },
    /// A required member absent or `null`.
    Missing {
        /// The member's name as sent.
        member: &'static str,
    },
    /// Anything else a type's own `Deserialize` refused (a value out of range, a
    /// `TryFrom` conversion), with its message.
    Other(String),
}

impl fmt::Display for MemberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberError::Type { member, expected } => {
                write!(f, "Member '{member}' must be {expected}")
            }
            MemberError::Missing { member } => write!(
                f,
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: \
                 Member must not be null",
                lower_first(member)
            ),
            MemberError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for MemberError {}

impl de::Error for MemberError {
    fn custom<T: fmt::Display>(message: T) -> MemberError {
        MemberError::Other(message.to_string())
    }

    fn missing_field(field: &'static str) -> MemberError {
        MemberError::Missing { member: field }
    }
}

impl From<MemberError> for Refusal {
    fn from(error: MemberError) -> Refusal {
        let exception = match error {
            MemberError::Missing { .. } => "InvalidParameterException",
            MemberError::Type { .. } | MemberError::Other(_) => "SerializationException",
        };
        Refusal::new(exception, error.to_string())
    }
}

/// `UserPoolId` → `userPoolId`, as Cognito names members in validation messages.
pub(crate) fn lower_first(name: &str) -> String {
    let mut characters = name.chars();
    characters
        .next()
        .map(|first| first.to_lowercase().chain(characters).collect())
        .unwrap_or_default()
}

/// One parsed value and the member it is (the innermost name: `Enabled` inside
/// `SoftwareTokenMfaSettings`, as Cognito's messages name it).
#[derive(Clone, Copy)]
struct Member<'de> {
    value: &'de Value,
    name: &'de str,
    /// An element of a list member.
    in_list: bool,
}

impl<'de> Member<'de> {
    fn mismatch(&self, kind: Kind) -> MemberError {
        MemberError::Type {
            member: self.name.to_owned(),
            expected: kind.phrase(self.in_list),
        }
    }

    /// An integer member: a JSON number that fits an `i64` (Cognito's integers are Java
    /// `Integer`/`Long`), anything else the "must be an integer" type error.
    fn integer<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value.as_i64() {
            Some(integer) => visitor.visit_i64(integer),
            None => Err(self.mismatch(Kind::Integer)),
        }
    }

    fn number<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value.as_f64() {
            Some(number) => visitor.visit_f64(number),
            None => Err(self.mismatch(Kind::Number)),
        }
    }

    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::String(text) => visitor.visit_borrowed_str(text),
            _ => Err(self.mismatch(Kind::String)),
        }
    }

    fn list<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Array(items) => visitor.visit_seq(Elements {
                items: items.iter(),
                name: self.name,
            }),
            _ => Err(self.mismatch(Kind::List)),
        }
    }

    fn structure<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Object(members) => visitor.visit_map(Members {
                entries: members.iter(),
                pending: None,
            }),
            _ => Err(self.mismatch(Kind::Structure)),
        }
    }
}

/// The `deserialize_*` methods that read an integer.
macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
            self.integer(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Member<'de> {
    type Error = MemberError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Number(number) if number.is_f64() => self.number(visitor),
            Value::Number(_) => self.integer(visitor),
            Value::String(_) => self.string(visitor),
            Value::Array(_) => self.list(visitor),
            Value::Object(_) => self.structure(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Bool(value) => visitor.visit_bool(*value),
            _ => Err(self.mismatch(Kind::Boolean)),
        }
    }

    integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.number(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.number(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.mismatch(Kind::Null)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.list(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        self.list(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        self.list(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.structure(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        self.structure(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, MemberError> {
        // Enums on the wire are strings (`SOFTWARE_TOKEN_MFA`, `MFA_SETUP`, …).
        match self.value {
            Value::String(text) => visitor.visit_enum(text.as_str().into_deserializer()),
            _ => Err(self.mismatch(Kind::String)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        self.string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, MemberError> {
        // A member the request type does not read: any JSON type will do.
        visitor.visit_unit()
    }
}

/// A structure's members, `null` ones left out (absent, as in the AWS JSON protocol).
struct Members<'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> de::MapAccess<'de> for Members<'de> {
    type Error = MemberError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, MemberError> {
        for (name, value) in self.entries.by_ref() {
            if value.is_null() {
                continue;
            }
            self.pending = Some((name.as_str(), value));
            return seed
                .deserialize(BorrowedStrDeserializer::new(name.as_str()))
                .map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, MemberError> {
        let (name, value) = self
            .pending
            .take()
            .ok_or_else(|| MemberError::Other("a member value without its name".to_owned()))?;
        seed.deserialize(Member {
            value,
            name,
            in_list: false,
        })
    }
}

/// A list member's elements.
struct Elements<'de> {
    items: core::slice::Iter<'de, Value>,
    name: &'de str,
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = MemberError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, MemberError> {
        match self.items.next() {
            Some(value) => seed
                .deserialize(Member {
                    value,
                    name: self.name,
                    in_list: true,
                })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}
