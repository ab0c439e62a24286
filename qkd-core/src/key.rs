//! Key material.
//!
//! [`SecretKey`] owns secret bytes: they are zeroized when the value is dropped, never printed by
//! `Debug` or `Display`, compared in constant time, and reachable only through
//! [`SecretKey::expose_secret`]. A [`KeyBlock`] is what a [`QuantumDevice`](crate::device::QuantumDevice)
//! delivers: an indexed secret key plus the statistics of the run that produced it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Secret key bytes that are zeroized on drop and never printed.
///
/// ```
/// use qkd_core::SecretKey;
/// let key = SecretKey::from_vec(vec![0x42; 32]);
/// assert_eq!(format!("{key:?}"), "SecretKey([REDACTED; 32 bytes])");
/// assert_eq!(key.expose_secret()[0], 0x42);
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey {
    bytes: Vec<u8>,
}

impl SecretKey {
    /// Takes ownership of `bytes`. The vector is zeroized when the key is dropped.
    pub fn from_vec(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    /// Copies `bytes` into a new key. The caller remains responsible for zeroizing its copy.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
        }
    }

    /// Takes the bytes out of a zeroizing buffer.
    pub fn from_zeroizing(mut bytes: Zeroizing<Vec<u8>>) -> Self {
        Self {
            bytes: std::mem::take(&mut *bytes),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Length in bits.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8
    }

    /// True for a zero-length key.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The secret bytes. Call sites are easy to audit by searching for this name.
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes
    }

    /// Moves the bytes into a zeroizing buffer.
    pub fn into_zeroizing(mut self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(std::mem::take(&mut self.bytes))
    }

    /// Concatenates keys (for example chunks into a longer key); the inputs are zeroized as they drop.
    pub fn concat<I: IntoIterator<Item = SecretKey>>(parts: I) -> Self {
        let mut bytes = Vec::new();
        for part in parts {
            bytes.extend_from_slice(part.expose_secret());
        }
        Self { bytes }
    }

    /// Splits the key into consecutive pieces of `chunk_len` bytes; a shorter tail is dropped
    /// (and zeroized). Returns no pieces when `chunk_len` is zero.
    pub fn split_into_chunks(&self, chunk_len: usize) -> Vec<SecretKey> {
        if chunk_len == 0 {
            return Vec::new();
        }
        self.bytes
            .chunks_exact(chunk_len)
            .map(SecretKey::from_slice)
            .collect()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey([REDACTED; {} bytes])", self.bytes.len())
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[REDACTED {}-bit key]", self.bit_len())
    }
}

impl ConstantTimeEq for SecretKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        // Lengths are not secret; contents are compared in constant time.
        self.bytes.as_slice().ct_eq(other.bytes.as_slice())
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for SecretKey {}

/// Statistics of the run that produced one [`KeyBlock`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockStats {
    /// Quantum signals sent (qubits or pulses).
    pub raw_bits: u64,
    /// Bits left after sifting (bases compared).
    pub sifted_bits: u64,
    /// Bits revealed for parameter estimation.
    pub sampled_bits: u64,
    /// Bits of information disclosed by error correction and verification.
    pub disclosed_bits: u64,
    /// Bits of the final secret key.
    pub final_bits: u64,
    /// Estimated quantum bit error rate (fraction, 0.0 to 1.0).
    pub qber: f64,
    /// Authentication key material consumed by the classical exchange, in bits.
    pub auth_bits_consumed: u64,
    /// Wall-clock time spent producing the block.
    pub duration: Duration,
}

/// One block of key delivered by a [`QuantumDevice`](crate::device::QuantumDevice).
///
/// The two ends of a link deliver blocks with equal `index` and equal `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyBlock {
    /// Position in the link's block sequence, agreed by both ends (starts at 0, increases by 1
    /// for every block either delivered or aborted).
    pub index: u64,
    /// The secret key.
    pub key: SecretKey,
    /// How the block was produced.
    pub stats: BlockStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_bytes() {
        let key = SecretKey::from_vec(vec![0xAB, 0xCD, 0xEF, 0x12]);
        let debug = format!("{key:?}");
        let display = format!("{key}");
        let pretty = format!("{key:#?}");
        for text in [&debug, &display, &pretty] {
            for needle in ["ab", "AB", "171", "cd", "CD", "205", "239", "18"] {
                assert!(!text.contains(needle), "{text} leaks {needle}");
            }
        }
        assert_eq!(debug, "SecretKey([REDACTED; 4 bytes])");
        assert_eq!(display, "[REDACTED 32-bit key]");
        let block = KeyBlock {
            index: 7,
            key,
            stats: BlockStats::default(),
        };
        assert!(format!("{block:?}").contains("REDACTED"));
        assert!(!format!("{block:?}").contains("171"));
    }

    #[test]
    fn equality_is_by_content() {
        let a = SecretKey::from_slice(&[1, 2, 3]);
        assert_eq!(a, SecretKey::from_slice(&[1, 2, 3]));
        assert_ne!(a, SecretKey::from_slice(&[1, 2, 4]));
        assert_ne!(a, SecretKey::from_slice(&[1, 2]));
        assert!(bool::from(a.ct_eq(&a.clone())));
    }

    #[test]
    fn zeroize_clears_bytes() {
        let mut key = SecretKey::from_vec(vec![9; 16]);
        key.zeroize();
        assert!(key.expose_secret().iter().all(|&b| b == 0));
    }

    #[test]
    fn concat_and_split_round_trip() {
        let key = SecretKey::from_vec((0u8..10).collect());
        let parts = key.split_into_chunks(4);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].expose_secret(), &[4, 5, 6, 7]);
        let joined = SecretKey::concat(parts);
        assert_eq!(joined.expose_secret(), &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert!(key.split_into_chunks(0).is_empty());
        assert_eq!(key.into_zeroizing().len(), 10);
    }
}
