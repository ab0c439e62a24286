//! Sans-IO QKD protocol engines.
//!
//! # Shape
//!
//! Each end of a link is an [`Engine`]: a state machine that performs no I/O. Its driver moves
//! two kinds of data between the ends:
//!
//! * **Quantum frames** ([`QuantumFrame`]): the sender's [`Engine::poll_frame`] emits batches of
//!   prepared qubits; the channel ([`crate::channel::QuantumChannel::transmit`]) and the
//!   eavesdropper ([`crate::eve::Eve::transmit`]) transform them (possibly in another process:
//!   frames are serde-serialisable); the receiver's [`Engine::handle_frame`] measures them.
//! * **Classical messages** ([`ClassicalMessage`], serde-serialisable): [`Engine::poll_classical`]
//!   returns the next message to send, [`Engine::handle_classical`] consumes one from the peer.
//!
//! When [`Engine::is_finished`] is true, [`Engine::take_outcome`] yields the sifted key
//! ([`qkd_core::BitString`]) and statistics. Each engine draws randomness only from its own RNG.
//! [`run_in_process`] wires Alice, Eve, the channel and Bob together in one thread:
//!
//! ```
//! use qkd_sim::channel::QuantumChannel;
//! use qkd_sim::eve::{EveBases, EveConfig};
//! use qkd_sim::protocol::{Backend, SimConfig, bb84, run_in_process};
//!
//! // An ideal link: identical sifted keys.
//! let config = SimConfig::new(bb84::config(Backend::StateVector { register_qubits: 5 }, 1024));
//! let report = run_in_process(&config, 7)?;
//! assert_eq!(report.alice.key.len(), 1024);
//! assert_eq!(report.alice.key, report.bob.key);
//!
//! // Eve intercepts everything: about a quarter of the sifted bits disagree.
//! let config = SimConfig {
//!     eve: Some(EveConfig::new(1.0, EveBases::Bb84)?),
//!     channel: QuantumChannel::ideal().with_depolarizing(0.0)?,
//!     ..SimConfig::new(bb84::config(Backend::Product, 20_000))
//! };
//! let qber = run_in_process(&config, 7)?.qber();
//! assert!((qber - 0.25).abs() < 0.02);
//! # Ok::<(), qkd_sim::SimError>(())
//! ```
//!
//! # Prepare-and-measure flow (BB84, six-state, B92)
//!
//! 1. Alice emits frame `seq` (one frame in flight at a time). Its size is chosen to reach the
//!    target sifted length with a 10% margin, from the sifting yield seen so far (or the protocol's
//!    ideal yield at first), capped by [`EngineConfig::frame_qubits`].
//! 2. Bob measures it and sends [`ClassicalMessage::Detections`]: which qubits clicked (B92: which
//!    gave a conclusive result) and, for BB84 and six-state, his bases.
//! 3. Alice keeps the positions whose bases match (B92: every announced position), appends her bits
//!    there to her sifted key and answers [`ClassicalMessage::Sift`] with the kept positions; Bob
//!    appends his bits at those positions.
//! 4. When Alice holds at least [`EngineConfig::target_sifted_bits`] bits (or has sent
//!    [`EngineConfig::max_qubits`] qubits) she sends [`ClassicalMessage::Done`] with the final
//!    length; both truncate to it and finish.
//!
//! # Backends
//!
//! [`Backend::StateVector`] carries qubits as amplitudes of registers of `register_qubits` qubits
//! (1 to [`MAX_REGISTER_QUBITS`]) and measures them with [`crate::statevector`];
//! [`Backend::Product`] is the bit-sliced product-state fast path (module `fastpath`). Both give the
//! same statistics (tested).

pub mod b92;
pub mod bb84;
pub mod bbm92;
mod driver;
pub mod e91;
pub mod entangled;
pub(crate) mod fastpath;
pub mod frame;
mod pm;
pub mod six_state;
pub(crate) mod svpath;

use qkd_core::BitString;
use serde::{Deserialize, Serialize};

use crate::SimError;

pub use driver::{EveKnowledge, RunReport, SimConfig, run_in_process};
pub use frame::{
    FramePayload, MAX_REGISTER_QUBITS, ProductFrame, QuantumFrame, Register, SliceState,
};
pub use pm::{PmAlice, PmBob};

/// A measurement (or preparation) basis of the prepare-and-measure protocols and of Eve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MeasBasis {
    /// Computational basis `{|0>, |1>}` (outcome 0 is `|0>`).
    Z,
    /// Diagonal basis `{|+>, |->}` (outcome 0 is `|+>`).
    X,
    /// Circular basis `{|+i>, |-i>}` (outcome 0 is `|+i>`).
    Y,
    /// The Breidbart basis, halfway between Z and X: linear polarisation at `pi/8`, outcome 0 is
    /// `cos(pi/8)|0> + sin(pi/8)|1>`.
    Breidbart,
}

/// Which prepare-and-measure protocol an engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Bennett-Brassard 1984: bases Z and X, sifting keeps matching bases (yield 1/2).
    Bb84,
    /// Six-state (Bruss 1998): bases Z, X and Y (yield 1/3; intercept-resend QBER 1/3).
    SixState,
    /// Bennett 1992: two non-orthogonal states `|0>` (bit 0) and `|+>` (bit 1); Bob measures Z or
    /// X and keeps only conclusive results (yield 1/4).
    B92,
}

impl Protocol {
    /// Expected fraction of sent qubits that survive sifting on an ideal channel.
    pub fn ideal_yield(self) -> f64 {
        match self {
            Protocol::Bb84 => 0.5,
            Protocol::SixState => 1.0 / 3.0,
            Protocol::B92 => 0.25,
        }
    }
}

/// How qubits are represented in frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    /// State-vector registers of `register_qubits` qubits (1 to [`MAX_REGISTER_QUBITS`]).
    StateVector {
        /// Qubits per register (the paper uses 5).
        register_qubits: usize,
    },
    /// Bit-sliced product states (fast path).
    Product,
}

/// Configuration shared by both ends of a prepare-and-measure link (both must use the same).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The protocol.
    pub protocol: Protocol,
    /// The frame representation.
    pub backend: Backend,
    /// Sifted bits wanted; the keys are truncated to exactly this length when reached.
    pub target_sifted_bits: usize,
    /// Largest frame, in qubits (at least 1). On the state-vector backend a frame also holds at
    /// most about 512 KiB of registers (at least one register), so that it stays in cache; this
    /// value is then an upper bound.
    pub frame_qubits: usize,
    /// Safety bound on the qubits Alice sends; she stops (with a shorter key) when it is reached.
    pub max_qubits: u64,
}

impl EngineConfig {
    /// A configuration for `target_sifted_bits` bits with frames of up to 2^16 qubits and a qubit
    /// budget of 64 times the ideal need plus 2^20.
    pub fn new(protocol: Protocol, backend: Backend, target_sifted_bits: usize) -> Self {
        let need = target_sifted_bits as f64 / protocol.ideal_yield();
        Self {
            protocol,
            backend,
            target_sifted_bits,
            frame_qubits: 1 << 16,
            max_qubits: (64.0 * need) as u64 + (1 << 20),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), SimError> {
        if let Backend::StateVector { register_qubits } = self.backend
            && (register_qubits == 0 || register_qubits > MAX_REGISTER_QUBITS)
        {
            return Err(SimError::RegisterSize {
                num_qubits: register_qubits,
                max: MAX_REGISTER_QUBITS,
            });
        }
        if self.frame_qubits == 0 {
            return Err(SimError::InvalidParameter {
                name: "frame_qubits",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_qubits == 0 {
            return Err(SimError::InvalidParameter {
                name: "max_qubits",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// A classical message of the sifting exchange. Packed bit vectors are little-endian `u64` words
/// (bit `i % 64` of word `i / 64` is qubit `i` of the frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassicalMessage {
    /// Bob to Alice: for frame `seq`, which qubits clicked (B92: gave a conclusive result) and, for
    /// protocols that sift by basis, Bob's bases as planes (`lo` bit: X, `hi` bit: Y; Z is 0).
    Detections {
        /// The frame.
        seq: u64,
        /// Number of qubits in the frame.
        len: usize,
        /// Packed detection mask.
        #[serde(with = "qkd_core::packed::mask")]
        detected: Vec<u64>,
        /// Packed low basis bit (empty when not announced).
        #[serde(with = "qkd_core::packed::words")]
        bases_lo: Vec<u64>,
        /// Packed high basis bit (empty unless the protocol has a third basis).
        #[serde(with = "qkd_core::packed::words")]
        bases_hi: Vec<u64>,
    },
    /// Alice to Bob: the positions of frame `seq` that enter the sifted key.
    Sift {
        /// The frame.
        seq: u64,
        /// Packed mask of kept positions (a subset of the detections).
        #[serde(with = "qkd_core::packed::words")]
        keep: Vec<u64>,
    },
    /// Alice to Bob: sifting is over; both keys are cut to `sifted_bits`.
    Done {
        /// Final sifted length.
        sifted_bits: u64,
    },
}

/// Counts kept by one end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiftStats {
    /// Frames sent (Alice) or received (Bob).
    pub frames: u64,
    /// Qubits sent (Alice) or received (Bob).
    pub qubits: u64,
    /// Qubits Bob's detector registered (B92: conclusive results).
    pub detected: u64,
    /// Sifted bits before the final truncation.
    pub sifted_untruncated: u64,
    /// Length of the final sifted key.
    pub sifted: u64,
}

/// What an engine produces: its sifted key and statistics.
#[derive(Debug, Clone)]
pub struct SiftOutcome {
    /// The sifted key (secret; `Debug` is redacted).
    pub key: BitString,
    /// Counts.
    pub stats: SiftStats,
}

/// One end of a QKD link as a sans-IO state machine (see the module docs).
pub trait Engine {
    /// The next quantum frame to send, if any (senders only; receivers return `None`).
    fn poll_frame(&mut self) -> Option<QuantumFrame>;

    /// Consumes a quantum frame from the channel (receivers; senders return an error).
    fn handle_frame(&mut self, frame: QuantumFrame) -> Result<(), SimError>;

    /// The next classical message to send to the peer, if any.
    fn poll_classical(&mut self) -> Option<ClassicalMessage>;

    /// Consumes a classical message from the peer.
    fn handle_classical(&mut self, msg: ClassicalMessage) -> Result<(), SimError>;

    /// True when the exchange is complete and the outcome is ready.
    fn is_finished(&self) -> bool;

    /// The outcome, once (later calls return `None`).
    fn take_outcome(&mut self) -> Option<SiftOutcome>;
}

#[cfg(test)]
mod tests;
