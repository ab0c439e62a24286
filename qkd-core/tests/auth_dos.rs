//! Denial of service against the key pool: an attacker who injects forged, corrupted, truncated,
//! replayed and reordered frames among genuine traffic must not make a backend consume more key
//! than the genuine traffic alone. Each scenario runs twice from the same seed: once attacked, once
//! clean, and the two receivers must end in identical accounting (apart from `rejected`).

use qkd_core::SecretKey;
use qkd_core::auth::{
    AesGcmAuth, AesGcmPolicy, AuthUsage, ChannelAuth, WegmanCarterAuth, WegmanCarterPolicy,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Sends `messages` genuine frames from `a` to `b`; when `attack`, the attacker also delivers a
/// random hostile frame before about half of them. Returns the receiver's usage.
fn run<A: ChannelAuth>(mut a: A, mut b: A, messages: usize, attack: bool) -> (AuthUsage, u64) {
    // Separate generators: the genuine traffic is identical whether or not the attacker acts.
    let mut traffic = ChaCha8Rng::seed_from_u64(0xD05);
    let mut rng = ChaCha8Rng::seed_from_u64(0xA77);
    let mut history: Vec<Vec<u8>> = Vec::new();
    let mut attacks = 0u64;
    for i in 0..messages {
        let len = (traffic.next_u32() % 300) as usize;
        let payload: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let frame = a.seal(&payload).expect("genuine seal");
        let hostile_roll = rng.next_u32();
        if attack && hostile_roll % 2 == 0 {
            let hostile = match hostile_roll % 10 {
                0 => {
                    let mut f = frame.clone();
                    let bit = (rng.next_u64() as usize) % (f.len() * 8);
                    f[bit / 8] ^= 1 << (bit % 8);
                    f
                }
                2 => frame[..(rng.next_u64() as usize) % frame.len()].to_vec(),
                4 if !history.is_empty() => {
                    history[(rng.next_u64() as usize) % history.len()].clone()
                }
                6 => {
                    let mut f = vec![0u8; frame.len()];
                    rng.fill_bytes(&mut f);
                    f
                }
                _ => {
                    // A frame the sender will produce later is not available; send the genuine
                    // frame with a byte appended instead.
                    let mut f = frame.clone();
                    f.push(0);
                    f
                }
            };
            assert!(b.open(&hostile).is_err(), "hostile frame {i} accepted");
            attacks += 1;
        }
        assert_eq!(
            b.open(&frame).expect("genuine frame after an attack"),
            payload
        );
        history.push(frame);
    }
    (b.usage(), attacks)
}

fn compare<A: ChannelAuth>(make: impl Fn() -> (A, A), messages: usize) {
    let (a, b) = make();
    let (attacked, attacks) = run(a, b, messages, true);
    let (a, b) = make();
    let (clean, _) = run(a, b, messages, false);
    assert!(
        attacks > messages as u64 / 4,
        "the attack actually happened"
    );
    assert_eq!(attacked.rejected, attacks);
    assert_eq!(
        AuthUsage {
            rejected: 0,
            ..attacked
        },
        clean,
        "attacked traffic consumed a different amount of key than clean traffic"
    );
}

#[test]
fn aes_gcm_pool_is_not_drained_by_hostile_frames() {
    // Rotation every 7 frames: many attacks land exactly at rotation points.
    compare(
        || {
            let policy = AesGcmPolicy {
                max_messages_per_key: 7,
                max_bytes_per_key: 1000,
                reserve_keys: 1,
                low_watermark_keys: 1,
            };
            AesGcmAuth::pair(SecretKey::from_vec(vec![0x77; 32 * 200]), policy).unwrap()
        },
        600,
    );
}

#[test]
fn wegman_carter_pads_are_not_drained_by_hostile_frames() {
    compare(
        || {
            let policy = WegmanCarterPolicy {
                reserve_pads: 4,
                low_watermark_pads: 8,
            };
            WegmanCarterAuth::pair(SecretKey::from_vec(vec![0x78; 16 + 32 * 700]), policy).unwrap()
        },
        600,
    );
}
