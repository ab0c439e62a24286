//! Encryption of key chunks at rest: AES-256-GCM records bound to their (stream, index).
//!
//! A record is `nonce (12 bytes) || ciphertext || tag (16 bytes)`. The associated data is
//! `"qkd-kms/redb/chunk/v1" || stream UUID (16 bytes) || index (8 bytes, big endian)`, so a record
//! copied to another stream or index fails authentication instead of yielding a wrong key.
//!
//! Nonces are `counter (8 bytes, big endian) || random (4 bytes)`. The caller supplies the counter
//! (the store persists it and never reuses a committed value); the random part protects against the
//! reuse of a counter value whose first use was never committed (a crash between encryption and
//! commit), and vice versa. No nonce is ever reused for two committed records under one master key.

use aes_gcm::aead::{AeadInOut, Generate, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use qkd_core::{SecretKey, StoreError, StreamId};
use zeroize::Zeroizing;

use super::master_key::MasterKey;

/// Bytes of nonce at the start of each record.
pub const NONCE_LEN: usize = 12;
/// Bytes of authentication tag at the end of each record.
pub const TAG_LEN: usize = 16;

const CHUNK_DOMAIN: &[u8] = b"qkd-kms/redb/chunk/v1";
const CHECK_DOMAIN: &[u8] = b"qkd-kms/redb/key-check/v1";

/// Seals and opens chunk records under one master key.
pub struct RecordCipher {
    aead: Aes256Gcm,
}

impl std::fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordCipher([REDACTED])")
    }
}

fn chunk_aad(stream: StreamId, index: u64) -> [u8; CHUNK_DOMAIN.len() + 24] {
    let mut aad = [0u8; CHUNK_DOMAIN.len() + 24];
    aad[..CHUNK_DOMAIN.len()].copy_from_slice(CHUNK_DOMAIN);
    aad[CHUNK_DOMAIN.len()..CHUNK_DOMAIN.len() + 16].copy_from_slice(stream.as_uuid().as_bytes());
    aad[CHUNK_DOMAIN.len() + 16..].copy_from_slice(&index.to_be_bytes());
    aad
}

impl RecordCipher {
    /// A cipher under `key`.
    pub fn new(key: &MasterKey) -> Self {
        let aead = Aes256Gcm::new(key.expose().into());
        Self { aead }
    }

    fn seal_with(&self, counter: u64, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let random = u32::try_generate()
            .map_err(|e| StoreError::Backend(format!("system random generator: {e}")))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&counter.to_be_bytes());
        nonce[8..].copy_from_slice(&random.to_be_bytes());
        let mut record = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        record.extend_from_slice(&nonce);
        record.extend_from_slice(plaintext);
        let tag = self
            .aead
            .encrypt_inout_detached(&Nonce::from(nonce), aad, (&mut record[NONCE_LEN..]).into())
            .map_err(|_| StoreError::Backend("encryption failed".into()))?;
        record.extend_from_slice(&tag);
        Ok(record)
    }

    fn open_with(&self, aad: &[u8], record: &[u8]) -> Result<Zeroizing<Vec<u8>>, ()> {
        if record.len() < NONCE_LEN + TAG_LEN {
            return Err(());
        }
        let (nonce, rest) = record.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| ())?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| ())?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        self.aead
            .decrypt_inout_detached(
                &Nonce::from(nonce),
                aad,
                plaintext.as_mut_slice().into(),
                &tag.into(),
            )
            .map_err(|_| ())?;
        Ok(plaintext)
    }

    /// Encrypts a chunk for `(stream, index)` with nonce counter `counter`.
    pub fn seal(
        &self,
        stream: StreamId,
        index: u64,
        counter: u64,
        key: &SecretKey,
    ) -> Result<Vec<u8>, StoreError> {
        self.seal_with(counter, &chunk_aad(stream, index), key.expose_secret())
    }

    /// Decrypts the record stored at `(stream, index)`; fails with [`StoreError::Corrupt`] if it was
    /// tampered with, moved, truncated, or sealed under another master key.
    pub fn open(
        &self,
        stream: StreamId,
        index: u64,
        record: &[u8],
    ) -> Result<SecretKey, StoreError> {
        self.open_with(&chunk_aad(stream, index), record)
            .map(SecretKey::from_zeroizing)
            .map_err(|()| {
                StoreError::Corrupt(format!(
                    "record at index {index} of stream {stream} failed authentication \
                     (tampered, moved, or wrong master key)"
                ))
            })
    }

    /// A record that proves knowledge of the master key (written once when a database is created).
    pub fn key_check(&self) -> Result<Vec<u8>, StoreError> {
        self.seal_with(0, CHECK_DOMAIN, &[0u8; 32])
    }

    /// True when `record` was made by [`key_check`](Self::key_check) under the same master key.
    pub fn verify_key_check(&self, record: &[u8]) -> bool {
        self.open_with(CHECK_DOMAIN, record)
            .is_ok_and(|p| p.iter().all(|&b| b == 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> MasterKey {
        MasterKey::from_bytes(std::array::from_fn(|i| seed.wrapping_add(i as u8 * 7))).unwrap()
    }

    #[test]
    fn round_trip_and_binding() {
        let cipher = RecordCipher::new(&key(1));
        let stream = StreamId::new_random();
        let chunk = SecretKey::from_vec((0u8..32).collect());
        let record = cipher.seal(stream, 5, 42, &chunk).unwrap();
        assert_eq!(record.len(), NONCE_LEN + 32 + TAG_LEN);
        assert_eq!(&record[..8], &42u64.to_be_bytes());
        assert_ne!(&record[NONCE_LEN..NONCE_LEN + 32], chunk.expose_secret());
        assert_eq!(cipher.open(stream, 5, &record).unwrap(), chunk);
        // Moved to another index or stream: refused.
        assert!(matches!(
            cipher.open(stream, 6, &record),
            Err(StoreError::Corrupt(_))
        ));
        let other = StreamId::new_random();
        assert!(cipher.open(other, 5, &record).is_err());
        // Any flipped bit: refused.
        for position in [0, NONCE_LEN, record.len() - 1] {
            let mut bad = record.clone();
            bad[position] ^= 1;
            assert!(cipher.open(stream, 5, &bad).is_err());
        }
        // Truncated: refused.
        assert!(cipher.open(stream, 5, &record[..20]).is_err());
        // Another master key: refused, never garbage.
        assert!(RecordCipher::new(&key(2)).open(stream, 5, &record).is_err());
    }

    #[test]
    fn nonces_differ_even_for_the_same_counter() {
        let cipher = RecordCipher::new(&key(3));
        let stream = StreamId::new_random();
        let chunk = SecretKey::from_vec(vec![0xAA; 16]);
        let a = cipher.seal(stream, 0, 7, &chunk).unwrap();
        let b = cipher.seal(stream, 0, 7, &chunk).unwrap();
        // The 32 random nonce bits collide with probability 2^-32.
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn key_check_detects_wrong_key() {
        let check = RecordCipher::new(&key(4)).key_check().unwrap();
        assert!(RecordCipher::new(&key(4)).verify_key_check(&check));
        assert!(!RecordCipher::new(&key(5)).verify_key_check(&check));
    }
}
