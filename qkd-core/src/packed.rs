//! Compact serde encodings for the large arrays of protocol messages (sifting masks,
//! distillation parities, seeds, Cascade's parity requests).
//!
//! Serialised element by element, a `Vec<u64>` of random words costs a varint of up to ten bytes
//! and a call into the serialiser per word, and the Cascade requests of a 2^20-bit block carry
//! well over 10^5 ranges in all: element-wise encoding and decoding was a large share of a
//! simulated link's profile (`perf` on `cargo bench --bench link`). These adapters (for
//! `#[serde(with = ...)]`) write each array as one byte string instead: words as fixed-width
//! little-endian fields, parity ranges as delta-coded varints. Formats without a
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

/// `Vec<ParityRange>` as one byte string of delta-coded varints: per range, the change of `pass`
/// from the previous range, the change of `start`, and `end - start`, each zigzag-coded (so that
/// every range, even a malformed one, is representable) and written as LEB128. A binary-search
/// step's range is short and its pass mostly that of the previous range, so a range costs four
/// to five bytes instead of ten: the requests are most of a link's classical traffic.
pub(crate) mod ranges {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        ranges: &[ParityRange],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::with_capacity(ranges.len() * 6);
        let (mut pass, mut start) = (0i64, 0i64);
        for r in ranges {
            let (p, a, b) = (i64::from(r.pass), i64::from(r.start), i64::from(r.end));
            put_varint(&mut bytes, zigzag(p - pass));
            put_varint(&mut bytes, zigzag(a - start));
            put_varint(&mut bytes, zigzag(b - a));
            (pass, start) = (p, a);
        }
        s.serialize_bytes(&bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<ParityRange>, D::Error> {
        d.deserialize_bytes(Ranges)
    }

    struct Ranges;

    impl<'de> Visitor<'de> for Ranges {
        type Value = Vec<ParityRange>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a byte string of delta-coded parity ranges")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            decode(bytes).ok_or_else(|| E::invalid_value(de::Unexpected::Bytes(bytes), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element::<u8>()? {
                bytes.push(b);
            }
            self.visit_bytes(&bytes)
        }
    }

    /// The ranges of `bytes`, or `None` if they are truncated, overlong or out of range.
    fn decode(mut bytes: &[u8]) -> Option<Vec<ParityRange>> {
        let mut out = Vec::with_capacity(bytes.len() / 4);
        let (mut pass, mut start) = (0i64, 0i64);
        while !bytes.is_empty() {
            let p = pass.checked_add(unzigzag(take_varint(&mut bytes)?))?;
            let a = start.checked_add(unzigzag(take_varint(&mut bytes)?))?;
            let b = a.checked_add(unzigzag(take_varint(&mut bytes)?))?;
            out.push(ParityRange {
                pass: u16::try_from(p).ok()?,
                start: u32::try_from(a).ok()?,
                end: u32::try_from(b).ok()?,
            });
            (pass, start) = (p, a);
        }
        Some(out)
    }

    fn zigzag(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    fn unzigzag(v: u64) -> i64 {
        ((v >> 1) as i64) ^ -((v & 1) as i64)
    }

    fn put_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// One LEB128 value from the front of `bytes` (at most ten bytes, no bits past 64).
    fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for (i, &b) in bytes.iter().enumerate().take(10) {
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return None;
            }
            v |= bits << (7 * i);
            if b & 0x80 == 0 {
                *bytes = &bytes[i + 1..];
                return Some(v);
            }
        }
        None
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
    fn round_trips_through_postcard_compactly() {
        let value = sample();
        let bytes = postcard::to_allocvec(&value).unwrap();
        // One length byte per array, then 8 bytes per word; the ranges take 1 + 1 + 1 bytes
        // (pass 3, start 7, length 2) and 3 + 1 + 5 (pass up by 65532, start down by 7,
        // length 2^32 - 1).
        assert_eq!(bytes.len(), 1 + 4 * 8 + 1 + 3 + 9);
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
        // A range cut off after its pass and start.
        let bad = serde_json::json!({"words": [], "ranges": [6, 14]});
        assert!(serde_json::from_value::<Both>(bad).is_err());
    }

    #[test]
    fn out_of_range_and_overlong_ranges_are_errors() {
        let decode = |ranges: Vec<u8>| {
            serde_json::from_value::<Both>(serde_json::json!({"words": [], "ranges": ranges}))
        };
        // A start below zero (zigzag 1 = -1), a pass above u16::MAX, an end above u32::MAX.
        assert!(decode(vec![0, 1, 2]).is_err());
        assert!(decode(vec![0x80, 0x80, 0x08, 0, 2]).is_err());
        assert!(decode(vec![0, 0xfe, 0xff, 0xff, 0xff, 0x1f, 4]).is_err());
        // An eleven-byte varint, and a ten-byte one with bits past 64.
        let mut long = vec![0x80; 10];
        long.extend([0, 0, 2]);
        assert!(decode(long).is_err());
        let mut wide = vec![0xff; 9];
        wide.extend([0x02, 0, 2]);
        assert!(decode(wide).is_err());
        // The same start twice, a length of zero, and a range ending before its start all
        // round-trip: validating them is the responder's job.
        let odd = Both {
            words: vec![],
            ranges: vec![
                ParityRange {
                    pass: 1,
                    start: 5,
                    end: 5,
                },
                ParityRange {
                    pass: 1,
                    start: 5,
                    end: 2,
                },
                ParityRange {
                    pass: 0,
                    start: u32::MAX,
                    end: 0,
                },
            ],
        };
        let bytes = postcard::to_allocvec(&odd).unwrap();
        assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), odd);
    }

    #[test]
    fn random_ranges_round_trip() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{Rng, SeedableRng};
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let ranges: Vec<ParityRange> = (0..2000)
            .map(|_| ParityRange {
                pass: rng.next_u32() as u16,
                start: rng.next_u32(),
                end: rng.next_u32(),
            })
            .collect();
        let value = Both {
            words: vec![],
            ranges,
        };
        let bytes = postcard::to_allocvec(&value).unwrap();
        assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), value);
    }
}
