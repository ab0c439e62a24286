//! SLH-DSA-SHAKE-128f and SLH-DSA-SHA2-128f (FIPS 205, stateless hash-based signatures; the
//! standardised SPHINCS+) for [`SignatureAuth`], via the pure-Rust `slh-dsa` crate. Feature
//! `pq-auth`.
//!
//! Sizes: public key 32 bytes, private key 64 bytes, signature 17 088 bytes. The "f" (fast)
//! parameter set trades signature size for signing speed. Security rests only on the hash function
//! (SHAKE128 here), which makes it the conservative post-quantum choice.
//!
//! ```
//! use qkd_core::auth::{ChannelAuth, SlhDsaAuth};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! let mut rng = ChaCha20Rng::seed_from_u64(1); // use the OS RNG for real keys
//! let (mut alice, mut bob) = SlhDsaAuth::generate_pair(&mut rng);
//! let frame = alice.seal(b"privacy amplification seed")?;
//! assert_eq!(frame.len(), 8 + 26 + 17_088);
//! assert_eq!(bob.open(&frame)?, b"privacy amplification seed");
//! # Ok::<(), qkd_core::AuthError>(())
//! ```

use rand_core::CryptoRng;
use slh_dsa::signature::{Keypair, MultipartSigner, MultipartVerifier};
use slh_dsa::{Sha2_128f, Shake128f, Signature, SigningKey, VerifyingKey};

use super::signature::{SignatureAuth, SignatureScheme};
use crate::error::AuthError;
use crate::key::SecretKey;

/// Implements [`SignatureScheme`] for an SLH-DSA parameter set of the `slh-dsa` crate.
macro_rules! slh_dsa_scheme {
    ($scheme:ident, $params:ty, $name:literal, $label:literal, $sig_len:literal) => {
        impl SignatureScheme for $scheme {
            type SigningKey = SigningKey<$params>;
            type VerifyingKey = VerifyingKey<$params>;
            const NAME: &'static str = $name;
            const SIGNATURE_LEN: usize = $sig_len;

            fn generate<R: CryptoRng + ?Sized>(
                rng: &mut R,
            ) -> (Self::SigningKey, Self::VerifyingKey) {
                let sk = SigningKey::<$params>::new(rng);
                let pk = sk.verifying_key();
                (sk, pk)
            }

            fn verifying_key(key: &Self::SigningKey) -> Self::VerifyingKey {
                key.verifying_key()
            }

            fn sign(key: &Self::SigningKey, parts: &[&[u8]]) -> Result<Vec<u8>, AuthError> {
                key.try_multipart_sign(parts)
                    .map(|sig| sig.to_vec())
                    .map_err(|_| AuthError::Config(concat!($label, " signing failed").into()))
            }

            fn verify(key: &Self::VerifyingKey, parts: &[&[u8]], signature: &[u8]) -> bool {
                match Signature::<$params>::try_from(signature) {
                    Ok(sig) => key.multipart_verify(parts, &sig).is_ok(),
                    Err(_) => false,
                }
            }

            fn encode_verifying_key(key: &Self::VerifyingKey) -> Vec<u8> {
                key.to_vec()
            }

            fn decode_verifying_key(bytes: &[u8]) -> Result<Self::VerifyingKey, AuthError> {
                VerifyingKey::<$params>::try_from(bytes).map_err(|_| {
                    AuthError::Config(format!(
                        concat!("not an ", $label, " public key ({} bytes, expected 32)"),
                        bytes.len()
                    ))
                })
            }
        }
    };
}

/// The SLH-DSA-SHAKE-128f scheme.
#[derive(Debug, Clone, Copy, Default)]
pub struct SlhDsaShake128f;

/// Channel authentication with SLH-DSA-SHAKE-128f signatures.
pub type SlhDsaAuth = SignatureAuth<SlhDsaShake128f>;

/// SLH-DSA-SHAKE-128f private key.
pub type SlhDsaSigningKey = SigningKey<Shake128f>;
/// SLH-DSA-SHAKE-128f public key.
pub type SlhDsaVerifyingKey = VerifyingKey<Shake128f>;

slh_dsa_scheme!(
    SlhDsaShake128f,
    Shake128f,
    "slh-dsa-shake-128f",
    "SLH-DSA-SHAKE-128f",
    17_088
);

/// The SLH-DSA-SHA2-128f scheme: the same FIPS 205 construction and sizes over SHA-256, which
/// CPUs with SHA extensions compute far faster than SHAKE: a seal and open of a short message
/// take about 11 ms against 157 ms for SHAKE-128f on the machine in `docs/benchmarks.md`
/// (`cargo bench --bench auth -- auth/seal_open_slh`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SlhDsaSha2_128f;

/// Channel authentication with SLH-DSA-SHA2-128f signatures.
pub type SlhDsaSha2Auth = SignatureAuth<SlhDsaSha2_128f>;

slh_dsa_scheme!(
    SlhDsaSha2_128f,
    Sha2_128f,
    "slh-dsa-sha2-128f",
    "SLH-DSA-SHA2-128f",
    17_088
);

/// The private key's standard encoding (64 bytes), in zeroizing storage.
pub fn encode_signing_key(key: &SlhDsaSigningKey) -> SecretKey {
    SecretKey::from_vec(key.to_vec())
}

/// Parses a private key encoded by [`encode_signing_key`].
pub fn decode_signing_key(bytes: &SecretKey) -> Result<SlhDsaSigningKey, AuthError> {
    SigningKey::<Shake128f>::try_from(bytes.expose_secret()).map_err(|_| {
        AuthError::Config(format!(
            "not an SLH-DSA-SHAKE-128f private key ({} bytes, expected 64)",
            bytes.len()
        ))
    })
}
