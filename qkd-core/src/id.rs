//! Identifiers used across the stack.
//!
//! * [`KeyId`] and [`StreamId`] are random (version 4) UUIDs. On the wire (ETSI GS QKD 014 `key_ID`,
//!   ETSI GS QKD 004 `Key_stream_ID`) they are written lowercase and hyphenated.
//! * [`SaeId`], [`KmeId`] and [`Endpoint`] are validated names: non-empty, at most
//!   [`MAX_NAME_LEN`] bytes, made of printable ASCII characters without spaces.
//!
//! Every type implements [`FromStr`], [`Display`](fmt::Display) and serde, and parsing fails with a
//! specific [`IdError`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::IdError;

/// The longest accepted name ([`SaeId`], [`KmeId`], [`Endpoint`]), in bytes.
pub const MAX_NAME_LEN: usize = 256;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (version 4) identifier.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID, which must be a version 4 (random) UUID.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, IdError> {
                if uuid.get_version_num() != 4 {
                    return Err(IdError::NotRandomUuid {
                        kind: $what,
                        version: uuid.get_version_num(),
                    });
                }
                Ok(Self(uuid))
            }

            /// Builds an identifier from 16 random bytes, setting the version 4 and variant bits.
            /// Useful when both ends of a link derive the same identifier from shared randomness.
            pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Accepts only the hyphenated form (`8-4-4-4-12` hexadecimal digits, either case).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if s.is_empty() {
                    return Err(IdError::Empty { kind: $what });
                }
                if s.len() != 36 {
                    return Err(IdError::MalformedUuid {
                        kind: $what,
                        reason: "expected 36 characters in the form 8-4-4-4-12",
                    });
                }
                let uuid = Uuid::try_parse(s).map_err(|_| IdError::MalformedUuid {
                    kind: $what,
                    reason: "expected hexadecimal digits in the form 8-4-4-4-12",
                })?;
                Self::from_uuid(uuid)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// Identifies one key handed to Security Application Entities (ETSI GS QKD 014 `key_ID`).
    KeyId,
    "key ID"
);
uuid_id!(
    /// Identifies one key stream between two applications (ETSI GS QKD 004 `Key_stream_ID`, KSID).
    StreamId,
    "key stream ID"
);

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(name: impl Into<String>) -> Result<Self, IdError> {
                let name = name.into();
                validate_name(&name, $what)?;
                Ok(Self(name))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_id!(
    /// Identifies a Secure Application Entity (ETSI GS QKD 014 `master_SAE_ID` / `slave_SAE_ID`).
    SaeId,
    "SAE ID"
);
name_id!(
    /// Identifies a Key Management Entity (ETSI GS QKD 014 `source_KME_ID` / `target_KME_ID`).
    KmeId,
    "KME ID"
);
name_id!(
    /// Names an application endpoint of an ETSI GS QKD 004 key stream (the `source` and
    /// `destination` URIs of OPEN_CONNECT, e.g. `qkd://sae-a@site-a`).
    Endpoint,
    "endpoint"
);

fn validate_name(name: &str, kind: &'static str) -> Result<(), IdError> {
    if name.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(IdError::TooLong {
            kind,
            len: name.len(),
            max: MAX_NAME_LEN,
        });
    }
    if let Some((position, _)) = name.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(IdError::NonPrintable { kind, position });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_lowercase() {
        let id = KeyId::new_random();
        let text = id.to_string();
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<KeyId>().unwrap(), id);
        let upper: KeyId = text.to_uppercase().parse().unwrap();
        assert_eq!(upper, id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<KeyId>(&json).unwrap(), id);
    }

    #[test]
    fn uuid_ids_reject_bad_input() {
        assert_eq!(
            "".parse::<StreamId>(),
            Err(IdError::Empty {
                kind: "key stream ID"
            })
        );
        assert!(matches!(
            "1234".parse::<KeyId>(),
            Err(IdError::MalformedUuid { .. })
        ));
        assert!(matches!(
            "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz".parse::<KeyId>(),
            Err(IdError::MalformedUuid { .. })
        ));
        // Simple (unhyphenated) form has 32 characters and is refused.
        assert!(matches!(
            "550e8400e29b41d4a716446655440000".parse::<KeyId>(),
            Err(IdError::MalformedUuid { .. })
        ));
        // A version 1 UUID is well formed but not random.
        assert_eq!(
            "c232ab00-9414-11ec-b3c8-9f6bdeced846".parse::<KeyId>(),
            Err(IdError::NotRandomUuid {
                kind: "key ID",
                version: 1
            })
        );
        assert!(serde_json::from_str::<KeyId>("\"not-a-uuid\"").is_err());
        assert!(serde_json::from_str::<KeyId>("17").is_err());
    }

    #[test]
    fn from_random_bytes_is_version_4() {
        let id = StreamId::from_random_bytes([0xff; 16]);
        assert_eq!(id.as_uuid().get_version_num(), 4);
        assert_eq!(id.to_string().parse::<StreamId>().unwrap(), id);
    }

    #[test]
    fn names_accept_printable_ascii() {
        let sae: SaeId = "sae-A_01.example".parse().unwrap();
        assert_eq!(sae.as_str(), "sae-A_01.example");
        let json = serde_json::to_string(&sae).unwrap();
        assert_eq!(serde_json::from_str::<SaeId>(&json).unwrap(), sae);
        assert!(KmeId::new("x".repeat(MAX_NAME_LEN)).is_ok());
        assert!(Endpoint::new("qkd://sae-a@site-a").is_ok());
    }

    #[test]
    fn names_reject_bad_input() {
        assert_eq!(SaeId::new(""), Err(IdError::Empty { kind: "SAE ID" }));
        assert_eq!(
            KmeId::new("k".repeat(MAX_NAME_LEN + 1)),
            Err(IdError::TooLong {
                kind: "KME ID",
                len: MAX_NAME_LEN + 1,
                max: MAX_NAME_LEN
            })
        );
        assert_eq!(
            SaeId::new("sae a"),
            Err(IdError::NonPrintable {
                kind: "SAE ID",
                position: 3
            })
        );
        assert_eq!(
            SaeId::new("sae\u{7}"),
            Err(IdError::NonPrintable {
                kind: "SAE ID",
                position: 3
            })
        );
        assert_eq!(
            Endpoint::new("é"),
            Err(IdError::NonPrintable {
                kind: "endpoint",
                position: 0
            })
        );
        assert!(serde_json::from_str::<SaeId>("\"\"").is_err());
        let err = SaeId::new("bad\nname").unwrap_err().to_string();
        assert!(err.contains("SAE ID"), "{err}");
    }
}
