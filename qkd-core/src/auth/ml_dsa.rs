//! ML-DSA (FIPS 204, module-lattice signatures) for [`SignatureAuth`], via the `ml-dsa` crate:
//! the faster post-quantum option. Feature `pq-auth`.
//!
//! | parameter set | category | public key | signature |
//! |---|---|---|---|
//! | ML-DSA-44 ([`MlDsa44Auth`]) | 2 | 1 312 B | 2 420 B |
//! | ML-DSA-65 ([`MlDsa65Auth`]) | 3 | 1 952 B | 3 309 B |
//!
//! Private keys are kept as their 32-byte FIPS 204 seed ([`encode_signing_key`]).
//!
//! ```
//! use qkd_core::auth::{ChannelAuth, MlDsa65Auth};
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! let mut rng = ChaCha20Rng::seed_from_u64(1); // use the OS RNG for real keys
//! let (mut alice, mut bob) = MlDsa65Auth::generate_pair(&mut rng);
//! let frame = alice.seal(b"basis list")?;
//! assert_eq!(bob.open(&frame)?, b"basis list");
//! # Ok::<(), qkd_core::AuthError>(())
//! ```

use std::marker::PhantomData;

use ml_dsa::signature::{Keypair, MultipartSigner, MultipartVerifier};
use ml_dsa::{EncodedVerifyingKey, MlDsaParams, Signature, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::signature::{SignatureAuth, SignatureScheme};
use crate::error::AuthError;
use crate::key::SecretKey;

pub use ml_dsa::{MlDsa44, MlDsa65};

/// The ML-DSA scheme with parameter set `P` ([`MlDsa44`] or [`MlDsa65`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct MlDsa<P>(PhantomData<P>);

/// Channel authentication with ML-DSA-44 signatures.
pub type MlDsa44Auth = SignatureAuth<MlDsa<MlDsa44>>;
/// Channel authentication with ML-DSA-65 signatures.
pub type MlDsa65Auth = SignatureAuth<MlDsa<MlDsa65>>;

/// Per-parameter-set constants.
pub trait MlDsaParameterSet: MlDsaParams + Send + Sync + 'static {
    /// Backend name.
    const NAME: &'static str;
    /// Signature length in bytes.
    const SIGNATURE_LEN: usize;
}

impl MlDsaParameterSet for MlDsa44 {
    const NAME: &'static str = "ml-dsa-44";
    const SIGNATURE_LEN: usize = 2420;
}

impl MlDsaParameterSet for MlDsa65 {
    const NAME: &'static str = "ml-dsa-65";
    const SIGNATURE_LEN: usize = 3309;
}

impl<P: MlDsaParameterSet> SignatureScheme for MlDsa<P> {
    type SigningKey = SigningKey<P>;
    type VerifyingKey = VerifyingKey<P>;
    const NAME: &'static str = P::NAME;
    const SIGNATURE_LEN: usize = P::SIGNATURE_LEN;

    fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> (Self::SigningKey, Self::VerifyingKey) {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut seed[..]);
        let sk = SigningKey::<P>::from_seed(&(*seed).into());
        let pk = sk.verifying_key();
        (sk, pk)
    }

    fn verifying_key(key: &Self::SigningKey) -> Self::VerifyingKey {
        key.verifying_key()
    }

    fn sign(key: &Self::SigningKey, parts: &[&[u8]]) -> Result<Vec<u8>, AuthError> {
        key.try_multipart_sign(parts)
            .map(|sig| sig.encode().to_vec())
            .map_err(|_| AuthError::Config("ML-DSA signing failed".into()))
    }

    fn verify(key: &Self::VerifyingKey, parts: &[&[u8]], signature: &[u8]) -> bool {
        match Signature::<P>::try_from(signature) {
            Ok(sig) => key.multipart_verify(parts, &sig).is_ok(),
            Err(_) => false,
        }
    }

    fn encode_verifying_key(key: &Self::VerifyingKey) -> Vec<u8> {
        key.encode().to_vec()
    }

    fn decode_verifying_key(bytes: &[u8]) -> Result<Self::VerifyingKey, AuthError> {
        let encoded = EncodedVerifyingKey::<P>::try_from(bytes).map_err(|_| {
            AuthError::Config(format!(
                "not an {} public key ({} bytes)",
                P::NAME,
                bytes.len()
            ))
        })?;
        Ok(VerifyingKey::<P>::decode(&encoded))
    }
}

/// The private key's 32-byte seed (FIPS 204 `ξ`), in zeroizing storage.
pub fn encode_signing_key<P: MlDsaParams>(key: &SigningKey<P>) -> SecretKey {
    SecretKey::from_slice(key.as_seed().as_slice())
}

/// Rebuilds a private key from its 32-byte seed.
pub fn decode_signing_key<P: MlDsaParams>(seed: &SecretKey) -> Result<SigningKey<P>, AuthError> {
    let bytes: [u8; 32] = seed.expose_secret().try_into().map_err(|_| {
        AuthError::Config(format!(
            "an ML-DSA private key seed is 32 bytes, got {}",
            seed.len()
        ))
    })?;
    let bytes = Zeroizing::new(bytes);
    Ok(SigningKey::<P>::from_seed(&(*bytes).into()))
}
