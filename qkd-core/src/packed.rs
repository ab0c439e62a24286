//! Compact serde encodings for the large arrays of protocol messages (sifting masks,
//! distillation parities, seeds, Cascade's parity requests).
//!
//! Serialised element by element, a `Vec<u64>` of random words costs a varint of up to ten bytes
//! and a call into the serialiser per word, and the Cascade requests of a 2^20-bit block carry
//! well over 10^5 ranges in all: element-wise encoding and decoding was a large share of a
//! simulated link's profile (`perf` on `cargo bench --bench link`). These adapters (for
//! `#[serde(with = ...)]`) write each array as one byte string instead: words as fixed-width
//! little-endian fields, parity ranges as records whose field widths fit the message. Formats without a
//! native byte string (JSON) see a sequence of bytes, which is decoded too.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use zeroize::Zeroizing;

use crate::distill::cascade::ParityRange;

/// Decodes one byte string with `decode` (`None` for a malformed one), which every adapter here
/// writes; formats without a native byte string present it as a sequence of bytes. The error
/// names the length, never the bytes (some adapters carry secret words).
struct ByteString<T> {
    decode: fn(&[u8]) -> Option<T>,
    what: &'static str,
}

impl<'de, T> Visitor<'de> for ByteString<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a byte string of {}", self.what)
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        (self.decode)(bytes).ok_or_else(|| E::invalid_length(bytes.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.visit_bytes(&seq_bytes(seq)?)
    }
}

/// The 8-byte little-endian words of `bytes`, or `None` for a partial word.
fn le_words(bytes: &[u8]) -> Option<Vec<u64>> {
    let (words, rest) = bytes.as_chunks::<8>();
    rest.is_empty()
        .then(|| words.iter().map(|w| u64::from_le_bytes(*w)).collect())
}

/// The bytes of a sequence (how formats without a native byte string, such as JSON, present
/// one), in a zeroized buffer: some adapters carry secret words.
fn seq_bytes<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Zeroizing<Vec<u8>>, A::Error> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(
        seq.size_hint().unwrap_or(0).min(1 << 20),
    ));
    while let Some(b) = seq.next_element::<u8>()? {
        bytes.push(b);
    }
    Ok(bytes)
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
        d.deserialize_bytes(ByteString {
            decode: le_words,
            what: "8-byte words",
        })
    }
}

/// `Vec<u64>` of a public bit mask (a detection mask): like [`words`], except that a mask whose
/// words are all ones but the last (every lane set, the last word partial) is sent as its word
/// count and last word. A lossless simulated channel detects every qubit, and its detection
/// masks are one of the three bit planes sifting sends per qubit (detections, bases, kept
/// positions). Not for secret words: the raw form's staging buffer is not zeroized.
pub mod mask {
    use super::*;
    use crate::channel::DEFAULT_MAX_FRAME_LEN;

    /// Leading byte: the words follow.
    const RAW: u8 = 0;
    /// Leading byte: all words but the last are ones; the count and the last word follow.
    const ONES: u8 = 1;

    /// Writes `words` as one byte string.
    pub fn serialize<S: Serializer>(words: &[u64], s: S) -> Result<S::Ok, S::Error> {
        match words.split_last() {
            Some((last, full)) if full.len() > 1 && full.iter().all(|&w| w == u64::MAX) => {
                let mut bytes = Vec::with_capacity(17);
                bytes.push(ONES);
                bytes.extend_from_slice(&(words.len() as u64).to_le_bytes());
                bytes.extend_from_slice(&last.to_le_bytes());
                s.serialize_bytes(&bytes)
            }
            _ => {
                let mut bytes = Vec::with_capacity(1 + 8 * words.len());
                bytes.push(RAW);
                bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
                s.serialize_bytes(&bytes)
            }
        }
    }

    /// Reads either form. A compact mask may not claim more words than a frame of
    /// [`DEFAULT_MAX_FRAME_LEN`] bytes could carry raw.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        d.deserialize_bytes(ByteString {
            decode,
            what: "bit-mask words",
        })
    }

    fn decode(bytes: &[u8]) -> Option<Vec<u64>> {
        match bytes.split_first()? {
            (&RAW, rest) => le_words(rest),
            (&ONES, rest) if rest.len() == 16 => {
                let count = u64::from_le_bytes(rest[..8].try_into().ok()?);
                let last = u64::from_le_bytes(rest[8..].try_into().ok()?);
                if !(3..=(DEFAULT_MAX_FRAME_LEN / 8) as u64).contains(&count) {
                    return None;
                }
                let mut words = vec![u64::MAX; count as usize];
                words[count as usize - 1] = last;
                Some(words)
            }
            _ => None,
        }
    }
}

/// `Vec<ParityRange>` as one byte string of fixed-width records, each field as narrow as the
/// largest value of the message needs: a header byte gives the widths (1 to 4 bytes) of `pass`,
/// `start` and a third field, which is `end - start`, or `end` itself when some range of the
/// message ends before it starts (malformed ranges stay representable, for the responder to
/// reject). Binary-search steps are short, so a range of a 2^17-bit frame costs five or six
/// bytes instead of ten, and encoding and decoding stay plain copies: the requests are most of a
/// link's classical traffic. An empty list is an empty byte string.
pub(crate) mod ranges {
    use super::*;

    /// Header bit: the third field is `end`, not `end - start`.
    const THIRD_IS_END: u8 = 1 << 6;

    pub(crate) fn serialize<S: Serializer>(
        ranges: &[ParityRange],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if ranges.is_empty() {
            return s.serialize_bytes(&[]);
        }
        let ends_first = ranges.iter().any(|r| r.end < r.start);
        let third = |r: &ParityRange| if ends_first { r.end } else { r.end - r.start };
        let (mut pass, mut start, mut last) = (0u32, 0u32, 0u32);
        for r in ranges {
            pass |= u32::from(r.pass);
            start |= r.start;
            last |= third(r);
        }
        let (wp, ws, wt) = (width(pass), width(start), width(last));
        let header = (wp - 1) as u8
            | ((ws - 1) as u8) << 2
            | ((wt - 1) as u8) << 4
            | if ends_first { THIRD_IS_END } else { 0 };
        // Each field is written as a whole 8-byte little-endian word (zeros above its width),
        // the next field overwriting those zeros: fixed-size stores instead of a copy per field.
        let record = wp + ws + wt;
        let mut bytes = vec![0u8; 1 + ranges.len() * record + 8];
        bytes[0] = header;
        let mut at = 1;
        for r in ranges {
            bytes[at..at + 8].copy_from_slice(&u64::from(r.pass).to_le_bytes());
            bytes[at + wp..at + wp + 8].copy_from_slice(&u64::from(r.start).to_le_bytes());
            bytes[at + wp + ws..at + wp + ws + 8]
                .copy_from_slice(&u64::from(third(r)).to_le_bytes());
            at += record;
        }
        bytes.truncate(at);
        s.serialize_bytes(&bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<ParityRange>, D::Error> {
        d.deserialize_bytes(ByteString {
            decode,
            what: "parity ranges",
        })
    }

    /// Bytes needed for `v` (at least one).
    fn width(v: u32) -> usize {
        (4 - v.leading_zeros() as usize / 8).max(1)
    }

    /// The ranges of `bytes`, or `None` for a bad header, a partial record or a field out of
    /// range.
    fn decode(bytes: &[u8]) -> Option<Vec<ParityRange>> {
        let Some((&header, records)) = bytes.split_first() else {
            return Some(Vec::new());
        };
        if header & !(THIRD_IS_END | 0x3f) != 0 {
            return None;
        }
        let wp = usize::from(header & 3) + 1;
        let ws = usize::from((header >> 2) & 3) + 1;
        let wt = usize::from((header >> 4) & 3) + 1;
        let record = wp + ws + wt;
        if records.is_empty() || records.len() % record != 0 {
            return None;
        }
        // Fields are read as 8-byte words, from a copy padded with zeros.
        let mut padded = Vec::with_capacity(records.len() + 8);
        padded.extend_from_slice(records);
        padded.extend_from_slice(&[0; 8]);
        let word = |at: usize, width: usize| {
            let bytes: [u8; 8] = padded[at..at + 8].try_into().unwrap_or_default();
            u64::from_le_bytes(bytes) & (u64::MAX >> (64 - 8 * width))
        };
        let mut out = Vec::with_capacity(records.len() / record);
        for at in (0..records.len()).step_by(record) {
            let pass = word(at, wp);
            let start = word(at + wp, ws) as u32;
            let third = word(at + wp + ws, wt) as u32;
            out.push(ParityRange {
                pass: u16::try_from(pass).ok()?,
                start,
                end: if header & THIRD_IS_END != 0 {
                    third
                } else {
                    start.checked_add(third)?
                },
            });
        }
        Some(out)
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
        // One length byte per array, then 8 bytes per word; the ranges take a header byte and
        // records of 2 (pass up to u16::MAX) + 1 (start up to 7) + 4 (length up to u32::MAX).
        assert_eq!(bytes.len(), 1 + 4 * 8 + 1 + 1 + 2 * 7);
        assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), value);
        let empty = Both {
            words: vec![],
            ranges: vec![],
        };
        let bytes = postcard::to_allocvec(&empty).unwrap();
        assert_eq!(bytes.len(), 2);
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
        let bad = serde_json::json!({"words": [], "ranges": [0, 6, 14]});
        assert!(serde_json::from_value::<Both>(bad).is_err());
    }

    #[test]
    fn bad_headers_and_out_of_range_ends_are_errors() {
        let decode = |ranges: Vec<u8>| {
            serde_json::from_value::<Both>(serde_json::json!({"words": [], "ranges": ranges}))
        };
        // Widths 1, 1, 1: records of three bytes.
        assert!(decode(vec![0, 1, 2, 3]).is_ok());
        assert!(decode(vec![0, 1, 2]).is_err());
        assert!(decode(vec![0]).is_err());
        // An unknown header bit.
        assert!(decode(vec![0x80, 1, 2, 3]).is_err());
        // A pass wider than u16, and an end past u32::MAX (start 2^32 - 1, length 1).
        assert!(decode(vec![2, 0, 0, 1, 0, 0]).is_err());
        assert!(decode(vec![0x0c, 0, 0xff, 0xff, 0xff, 0xff, 1]).is_err());
        // Empty, reversed and repeated ranges round-trip: validating them is the
        // responder's job.
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
        // Every field width and list lengths around the padded reads, through both formats.
        for len in 1..20 {
            for bits in [4, 12, 20, 28, 32] {
                let ranges: Vec<ParityRange> = (0..len)
                    .map(|_| {
                        let start = (rng.next_u32() >> (32 - bits)) / 2;
                        ParityRange {
                            pass: (rng.next_u32() >> (32 - bits.min(16))) as u16,
                            start,
                            end: start + (rng.next_u32() >> (32 - bits)) / 2,
                        }
                    })
                    .collect();
                let value = Both {
                    words: vec![],
                    ranges,
                };
                let bytes = postcard::to_allocvec(&value).unwrap();
                assert_eq!(postcard::from_bytes::<Both>(&bytes).unwrap(), value);
                let json = serde_json::to_string(&value).unwrap();
                assert_eq!(serde_json::from_str::<Both>(&json).unwrap(), value);
            }
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Masked(#[serde(with = "mask")] Vec<u64>);

    #[test]
    fn masks_of_ones_are_compact_and_round_trip() {
        for words in [
            vec![],
            vec![7],
            vec![u64::MAX, 3],
            vec![u64::MAX; 3],
            vec![u64::MAX, u64::MAX, u64::MAX, 0x1f],
            vec![u64::MAX, 0, u64::MAX, u64::MAX],
        ] {
            let value = Masked(words.clone());
            let bytes = postcard::to_allocvec(&value).unwrap();
            let compact = words.len() > 2 && words[..words.len() - 1].iter().all(|&w| w == !0);
            assert_eq!(
                bytes.len(),
                1 + if compact { 17 } else { 1 + 8 * words.len() }
            );
            assert_eq!(postcard::from_bytes::<Masked>(&bytes).unwrap(), value);
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<Masked>(&json).unwrap(), value);
        }
        let masked = |bytes: Vec<u8>| serde_json::from_value::<Masked>(serde_json::json!(bytes));
        // Unknown form, a partial word, a short compact form, and counts out of range.
        assert!(masked(vec![2]).is_err());
        assert!(masked(vec![0, 1, 2, 3]).is_err());
        assert!(masked(vec![1, 3, 0, 0]).is_err());
        let compact = |count: u64| {
            let mut b = vec![1];
            b.extend_from_slice(&count.to_le_bytes());
            b.extend_from_slice(&[0; 8]);
            b
        };
        assert!(masked(compact(2)).is_err());
        assert!(masked(compact(u64::MAX)).is_err());
        assert_eq!(
            masked(compact(3)).unwrap(),
            Masked(vec![u64::MAX, u64::MAX, 0])
        );
    }
}
