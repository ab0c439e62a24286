//! Random number sources: the Hadamard-circuit quantum RNG on the state-vector engine, an
//! OS-seeded ChaCha20 CSPRNG (the default), and [`RandomSource`], a configuration value that
//! builds either (or a seeded generator for tests) behind the rand_core 0.10 [`Rng`] trait.
//!
//! # How random is a simulated QRNG?
//!
//! [`HadamardQrng`] reproduces the circuit of the paper's quantum RNG: an n-qubit register, a
//! Hadamard gate on every qubit, and a measurement of all qubits, giving n uniformly random bits
//! per shot. On real quantum hardware the randomness comes from the measurement itself. In this
//! simulator the measurement outcome is drawn from an ordinary (pseudo-)random generator, so **a
//! simulated QRNG is exactly as random as the simulator's RNG and no more**: with the default
//! OS-seeded ChaCha20 it is as good as (and much slower than) using ChaCha20 directly; with a
//! seeded generator it is fully predictable. It exists to model the paper's design and to test the
//! plumbing. A real deployment plugs a hardware QRNG in through the same trait ([`Rng`], or
//! [`rand_core::TryRng`] for a fallible device), wherever this crate asks for randomness.

use std::convert::Infallible;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng, TryRng};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::SimError;
use crate::statevector::{Gate, StateVector};

/// Largest QRNG register. A shot costs `n * 2^n` amplitude updates, so larger registers only
/// slow the generator down (the output is the same uniform distribution).
pub const QRNG_MAX_QUBITS: usize = 24;

/// A ChaCha20 CSPRNG seeded from the operating system's entropy source.
///
/// Errors with [`SimError::Entropy`] if the OS source fails.
pub fn os_csprng() -> Result<ChaCha20Rng, SimError> {
    ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng).map_err(|e| SimError::Entropy(e.to_string()))
}

/// The Hadamard-circuit quantum random number generator simulated on [`StateVector`].
///
/// Each shot resets an n-qubit register to `|0...0>`, applies H to every qubit and measures all
/// of them, giving n random bits. Bits are packed little-endian into the words returned by the
/// [`Rng`] methods (the first shot fills the lowest bits). The measurement randomness comes from
/// the underlying generator `R` (see the [module docs](self) on what that means for quality).
pub struct HadamardQrng<R = ChaCha20Rng> {
    register: StateVector,
    rng: R,
    /// Random bits not yet handed out, lowest first.
    buffer: u128,
    buffered: u32,
}

impl<R> std::fmt::Debug for HadamardQrng<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never show buffered random bits or generator state: they may become key material.
        f.debug_struct("HadamardQrng")
            .field("register_qubits", &self.register.num_qubits())
            .finish_non_exhaustive()
    }
}

impl<R> Drop for HadamardQrng<R> {
    fn drop(&mut self) {
        self.buffer.zeroize();
    }
}

impl HadamardQrng<ChaCha20Rng> {
    /// A QRNG whose measurements draw on an OS-seeded ChaCha20 generator.
    pub fn from_os(register_qubits: usize) -> Result<Self, SimError> {
        Self::with_rng(register_qubits, os_csprng()?)
    }

    /// A reproducible QRNG for tests: measurements draw on ChaCha20 seeded with `seed`.
    pub fn seeded(register_qubits: usize, seed: u64) -> Result<Self, SimError> {
        Self::with_rng(register_qubits, ChaCha20Rng::seed_from_u64(seed))
    }
}

impl<R: Rng> HadamardQrng<R> {
    /// A QRNG with an `register_qubits`-qubit register (1 to [`QRNG_MAX_QUBITS`]) whose
    /// measurements draw on `rng`.
    pub fn with_rng(register_qubits: usize, rng: R) -> Result<Self, SimError> {
        if !(1..=QRNG_MAX_QUBITS).contains(&register_qubits) {
            return Err(SimError::RegisterSize {
                num_qubits: register_qubits,
                max: QRNG_MAX_QUBITS,
            });
        }
        Ok(Self {
            register: StateVector::new(register_qubits)?,
            rng,
            buffer: 0,
            buffered: 0,
        })
    }

    /// The register size n (random bits per shot).
    pub fn register_qubits(&self) -> usize {
        self.register.num_qubits()
    }

    /// Runs the circuit once: returns n random bits in the low bits of the result (qubit q is
    /// bit q).
    pub fn shot(&mut self) -> u64 {
        self.register.reset();
        for q in 0..self.register.num_qubits() {
            // `q` is in range and H takes no parameter, so this cannot fail.
            if self.register.apply(Gate::H, q).is_err() {
                unreachable!("qubit {q} is inside the register");
            }
        }
        self.register.measure_all(&mut self.rng)
    }

    /// The next `bits` (at most 64) random bits from the buffer, running shots as needed.
    fn take(&mut self, bits: u32) -> u64 {
        let n = self.register.num_qubits() as u32;
        while self.buffered < bits {
            self.buffer |= u128::from(self.shot()) << self.buffered;
            self.buffered += n;
        }
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let out = (self.buffer as u64) & mask;
        self.buffer >>= bits;
        self.buffered -= bits;
        out
    }
}

impl<R: Rng> TryRng for HadamardQrng<R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.take(32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.take(64))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        rand_core::utils::fill_bytes_via_next_word(dst, || self.try_next_u64())
    }
}

/// Where randomness comes from: a configuration value that builds a boxed generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RandomSource {
    /// ChaCha20 seeded from the operating system (the default; use this in production).
    #[default]
    Csprng,
    /// The simulated Hadamard-circuit QRNG with a register of this many qubits, its measurements
    /// drawing on an OS-seeded ChaCha20 (as random as that, no more: see the [module docs](self)).
    Qrng {
        /// Qubits per shot (1 to [`QRNG_MAX_QUBITS`]).
        register_qubits: usize,
    },
    /// ChaCha20 seeded with a fixed value: reproducible, for tests and experiments only.
    Seeded(u64),
}

impl RandomSource {
    /// Builds the generator.
    ///
    /// Errors: [`SimError::Entropy`] if the OS entropy source fails; [`SimError::RegisterSize`]
    /// for a QRNG register outside 1 to [`QRNG_MAX_QUBITS`].
    pub fn build(&self) -> Result<Box<dyn Rng + Send>, SimError> {
        Ok(match *self {
            RandomSource::Csprng => Box::new(os_csprng()?),
            RandomSource::Qrng { register_qubits } => {
                Box::new(HadamardQrng::from_os(register_qubits)?)
            }
            RandomSource::Seeded(seed) => Box::new(ChaCha20Rng::seed_from_u64(seed)),
        })
    }
}

#[cfg(test)]
mod tests;
