//! Compact serde encodings for the large arrays of protocol messages (sifting masks,
//! distillation parities, seeds).
//!
//! Serialised element by element, a `Vec<u64>` of random words costs a varint of up to ten bytes
//! and a call into the serialiser per word, and the Cascade requests of a 2^20-bit block carry
//! well over 10^5 ranges in all: element-wise encoding and decoding was a large share of a
//! simulated link's profile (`perf` on `cargo bench --bench link`). These adapters (for `#[serde(with = ...)]`) write the array as one byte string of
//! fixed-width little-endian fields instead: one length prefix and one copy. Formats without a
//! native byte string (JSON) see a sequence of bytes, which is decoded too.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use zeroize::Zeroizing;

use crate::distill::cascade::ParityRange;

/// Decodes a byte string of `WIDTH`-byte records with `parse`.
struct Records<T, const WIDTH: usize> {
    parse: fn(&[u8; WIDTH]) -> T,
    what: &'static str,
}

impl<'de, T, const WIDTH: usize> Visitor<'de> for Records<T, WIDTH> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a byte string of {WIDTH}-byte {}", self.what)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        let (records, rest) = bytes.as_chunks::<WIDTH>();
        if !rest.is_empty() {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        Ok(records.iter().map(self.parse).collect())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(
            seq.size_hint().unwrap_or(0).min(1 << 20),
        ));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        self.visit_bytes(&bytes)
    }
}

/// `Vec<u64>` as 8-byte little-endian words: `#[serde(with = "qkd_core::packed::words")]`.
pub mod words {
    use super::*;

    /// Writes `words` as one byte string.
    pub fn serialize<S: Serializer>(words: &[u64], s: S) -> Result<S::Ok, S::Error> {
        // Zeroized: callers may encode secret words (the simulator's quantum frames).
        let bytes: Zeroizing<Vec<u8>> =
            Zeroizing::new(words.iter().flat_map(|w| w.to_le_bytes()).collect());
        s.serialize_bytes(&bytes)
    }

    /// Reads a byte string of whole words.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        d.deserialize_bytes(Records::<u64, 8> {
            parse: |b| u64::from_le_bytes(*b),
            what: "words",
        })
    }
}

/// `Vec<ParityRange>` as 10-byte records: pass (2 bytes), start (4), end (4), little-endian.
pub(crate) mod ranges {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        ranges: &[ParityRange],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(ranges.len() * 10);
        for r in ranges {
            bytes.extend_from_slice(&r.pass.to_le_bytes());
            bytes.extend_from_slice(&r.start.to_le_bytes());
            bytes.extend_from_slice(&r.end.to_le_bytes());
        }
        s.serialize_bytes(&bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<ParityRange>, D::Error> {
        d.deserialize_bytes(Records::<ParityRange, 10> {
            parse: |b| ParityRange {
                pass: u16::from_le_bytes([b[0], b[1]]),
                start: u32::from_le_bytes([b[2], b[3], b[4], b[5]]),
                end: u32::from_le_bytes([b[6], b[7], b[8], b[9]]),
            },
            what: "parity ranges",
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Both {
        #[serde(with = "words")]
        words: Vec<u64>,
        #[serde(with = "ranges")]
        ranges: Vec<ParityRange>,
    }

    fn sample() -> Both {
        Both {
            words: vec![0, 1, u64::MAX, 0x0123_4567_89ab_cdef],
            ranges: vec![
                ParityRange {
                    pass: 3,
                    start: 7,
                    end: 9,
                },
                ParityRange {
                    pass: u16::MAX,
                    start: 0,
                    end: u32::MAX,
                },
            ],
        }
    }

    #[test]
    fn round_trips_through_postcard_at_fixed_width() {
        let value = sample();
        let bytes = postcard::to_allocvec(&value).unwrap();
        // One length byte per array, then 8 bytes per word and 10 per range.
        assert_eq!(bytes.len(), 1 + 4 * 8 + 1 + 2 * 10);
        assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), value);
        let empty = Both {
            words: vec![],
            ranges: vec![],
        };
        let bytes = postcard::to_allocvec(&empty).unwrap();
        assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), empty);
    }

    #[test]
    fn round_trips_through_json_as_byte_sequences() {
        let value = sample();
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), value);
    }

    #[test]
    fn truncated_records_are_errors() {
        let mut bytes = postcard::to_allocvec(&sample()).unwrap();
        // Shorten the words' byte string by one byte: 31 bytes are not whole words.
        bytes[0] -= 1;
        bytes.remove(1);
        assert!(postcard::from_bytes::<Both>(&bytes).is_err());
        // Ranges of 9 bytes.
        let bad = serde_json::json!({"words": [], "ranges": [1, 2, 3, 4, 5, 6, 7, 8, 9]});
        assert!(serde_json::from_value::<Both>(bad).is_err());
    }
}
