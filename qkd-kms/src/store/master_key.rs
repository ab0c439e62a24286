//! The master key that encrypts key material at rest.
//!
//! A [`MasterKey`] is 32 bytes (AES-256). It is read from a file or an environment variable:
//!
//! * **File** ([`MasterKey::from_file`]): either exactly 32 raw bytes, or text holding 64 hexadecimal
//!   digits or 32 bytes in standard base64 (44 characters with padding, or 43 without). Leading and
//!   trailing ASCII whitespace (such as a final newline) is ignored for the text forms. On Unix the
//!   file must not be readable or writable by group or others (mode `0600` or stricter).
//! * **Environment variable** ([`MasterKey::from_env`]): hex or base64 as above (raw bytes cannot be
//!   carried by an environment variable).
//!
//! Weak keys are refused: anything that does not decode to exactly 32 bytes, and 32-byte values with
//! fewer than 16 distinct byte values (all zeros, repeated patterns) or, for the raw form, made only of
//! printable ASCII (a pass phrase rather than a key). A uniformly random key trips these checks with
//! probability below 2^-45 (fewer than 16 distinct values: at most sum_k C(256,k)(k/256)^32 < 3e-16;
//! all printable: (95/256)^32 < 2e-14), so a real key is never refused.
//!
//! Generate one with `head -c 32 /dev/urandom > master.key && chmod 600 master.key`, or
//! `openssl rand -hex 32`.

use std::fmt;
use std::path::Path;

use base64::Engine;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// Minimum number of distinct byte values a master key must contain (see the module docs).
const MIN_DISTINCT_BYTES: usize = 16;

/// Why a master key was refused. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MasterKeyError {
    /// The file could not be read.
    #[error("cannot read master key file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The key file is readable or writable by group or others.
    #[error(
        "master key file {path} has mode {mode:o}; it must not be accessible by group or others (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The environment variable is not set (or not valid Unicode).
    #[error("environment variable {0} is not set or not valid UTF-8")]
    MissingEnv(String),
    /// The input is not 32 raw bytes, 64 hex digits or 32 bytes of base64.
    #[error(
        "master key must be 32 raw bytes, 64 hex digits or 32 bytes in base64; got {len} bytes of input"
    )]
    Malformed {
        /// Length of the input (after trimming whitespace for text forms).
        len: usize,
    },
    /// The key decodes to 32 bytes but looks weak.
    #[error("master key refused as weak: {0}")]
    Weak(&'static str),
}

/// A 256-bit master key, zeroized on drop and never printed.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

impl MasterKey {
    /// Wraps 32 key bytes after the weak-key checks (the caller should zeroize its copy).
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Result<Self, MasterKeyError> {
        let key = Self {
            bytes: Zeroizing::new(bytes),
        };
        key.check_distinct()?;
        Ok(key)
    }

    /// Parses a key from the bytes of a key file: 32 raw bytes, or hex / base64 text.
    pub fn parse(input: &[u8]) -> Result<Self, MasterKeyError> {
        if input.len() == MASTER_KEY_LEN {
            if input.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                return Err(MasterKeyError::Weak(
                    "32 printable characters look like a pass phrase, not a random key",
                ));
            }
            let mut raw = [0u8; MASTER_KEY_LEN];
            raw.copy_from_slice(input);
            let key = Self::from_bytes(raw);
            raw.zeroize();
            return key;
        }
        Self::parse_text(input)
    }

    /// Parses hex (64 digits) or standard base64 (32 bytes) text, ignoring surrounding whitespace.
    pub fn parse_text(input: &[u8]) -> Result<Self, MasterKeyError> {
        let text = input.trim_ascii();
        let decoded: Zeroizing<Vec<u8>> = if text.len() == 2 * MASTER_KEY_LEN {
            Zeroizing::new(
                hex::decode(text).map_err(|_| MasterKeyError::Malformed { len: text.len() })?,
            )
        } else if text.len() == 44 || text.len() == 43 {
            let engine = if text.len() == 44 {
                &base64::engine::general_purpose::STANDARD
            } else {
                &base64::engine::general_purpose::STANDARD_NO_PAD
            };
            Zeroizing::new(
                engine
                    .decode(text)
                    .map_err(|_| MasterKeyError::Malformed { len: text.len() })?,
            )
        } else {
            return Err(MasterKeyError::Malformed { len: text.len() });
        };
        let mut raw = [0u8; MASTER_KEY_LEN];
        if decoded.len() != MASTER_KEY_LEN {
            return Err(MasterKeyError::Malformed { len: text.len() });
        }
        raw.copy_from_slice(&decoded);
        let key = Self::from_bytes(raw);
        raw.zeroize();
        key
    }

    /// Reads a key file (see the module docs for the accepted forms and permissions).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, MasterKeyError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let io = |e: std::io::Error| MasterKeyError::Io {
            path: shown.clone(),
            reason: e.to_string(),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(MasterKeyError::Permissions {
                    path: shown.clone(),
                    mode,
                });
            }
        }
        let contents = Zeroizing::new(std::fs::read(path).map_err(io)?);
        Self::parse(&contents)
    }

    /// Reads a hex or base64 key from the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self, MasterKeyError> {
        let value = Zeroizing::new(
            std::env::var(name).map_err(|_| MasterKeyError::MissingEnv(name.to_owned()))?,
        );
        Self::parse_text(value.as_bytes())
    }

    /// The key bytes (crate-internal: only the record cipher uses them).
    pub(crate) fn expose(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    fn check_distinct(&self) -> Result<(), MasterKeyError> {
        let mut seen = [false; 256];
        for &b in self.bytes.iter() {
            seen[usize::from(b)] = true;
        }
        if seen.iter().filter(|&&s| s).count() < MIN_DISTINCT_BYTES {
            return Err(MasterKeyError::Weak(
                "fewer than 16 distinct byte values (zeros or a repeated pattern)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; 32] {
        // Bytes 0x80..0xA0: 32 distinct, non-printable values.
        std::array::from_fn(|i| 0x80 + i as u8)
    }

    #[test]
    fn raw_hex_and_base64_agree() {
        let raw = sample();
        let from_raw = MasterKey::parse(&raw).unwrap();
        let hex_text = format!("{}\n", hex::encode(raw));
        let from_hex = MasterKey::parse(hex_text.as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let from_b64 = MasterKey::parse(format!("  {b64}\r\n").as_bytes()).unwrap();
        let b64_nopad = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
        let from_nopad = MasterKey::parse_text(b64_nopad.as_bytes()).unwrap();
        for key in [&from_hex, &from_b64, &from_nopad] {
            assert_eq!(key.expose(), from_raw.expose());
        }
        assert_eq!(format!("{from_raw:?}"), "MasterKey([REDACTED])");
    }

    #[test]
    fn refuses_short_long_and_malformed_input() {
        for bad in [
            &b""[..],
            &[0x90; 16][..],
            &[0x90; 31][..],
            &[0x90; 33][..],
            b"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            b"0102030405060708090a0b0c0d0e0f",
        ] {
            assert!(
                matches!(MasterKey::parse(bad), Err(MasterKeyError::Malformed { .. })),
                "accepted {} bytes",
                bad.len()
            );
        }
        // 44 characters of base64 that decode to 32 bytes only with bad characters.
        assert!(MasterKey::parse_text(&[b'!'; 44]).is_err());
    }

    #[test]
    fn refuses_weak_keys() {
        assert!(matches!(
            MasterKey::from_bytes([0; 32]),
            Err(MasterKeyError::Weak(_))
        ));
        let pattern: [u8; 32] = std::array::from_fn(|i| 0x80 + (i % 8) as u8);
        assert!(matches!(
            MasterKey::from_bytes(pattern),
            Err(MasterKeyError::Weak(_))
        ));
        assert!(matches!(
            MasterKey::parse(b"correct horse battery staple!!!!"),
            Err(MasterKeyError::Weak(_))
        ));
        assert!(matches!(
            MasterKey::parse_text(hex::encode([0u8; 32]).as_bytes()),
            Err(MasterKeyError::Weak(_))
        ));
    }

    #[test]
    fn reads_files_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, sample()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                MasterKey::from_file(&path),
                Err(MasterKeyError::Permissions { mode: 0o644, .. })
            ));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(MasterKey::from_file(&path).unwrap().expose(), &sample());
        assert!(matches!(
            MasterKey::from_file(dir.path().join("missing")),
            Err(MasterKeyError::Io { .. })
        ));
        assert!(matches!(
            MasterKey::from_env("QKD_KMS_TEST_SURELY_UNSET_VARIABLE"),
            Err(MasterKeyError::MissingEnv(_))
        ));
    }
}
