//! Channel authentication: seal + open of one message per backend at 64 B, 1 KiB and 64 KiB, and
//! key generation of the signature schemes.
//!
//! `cargo bench --bench auth -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use qkd_core::SecretKey;
use qkd_core::auth::{
    AesGcmAuth, AesGcmPolicy, ChannelAuth, MlDsa44Auth, MlDsa65Auth, NoAuth, SlhDsaAuth,
    SlhDsaSha2Auth, WegmanCarterAuth, WegmanCarterPolicy,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const SIZES: [usize; 3] = [64, 1024, 64 * 1024];

fn material(rng: &mut ChaCha20Rng, len: usize) -> SecretKey {
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    SecretKey::from_vec(bytes)
}

/// One message from `a` to `b`: seal, open, check. Refills both ends (identically) when the backend
/// asks, from pre-generated material, as a link would after each QKD block.
fn round<A: ChannelAuth>(a: &mut A, b: &mut A, msg: &[u8], refill: &SecretKey) {
    if a.key_demand_bits() > 0 {
        a.replenish(refill.clone()).expect("refill a");
        b.replenish(refill.clone()).expect("refill b");
    }
    let frame = a.seal(black_box(msg)).expect("seal");
    let opened = b.open(black_box(&frame)).expect("open");
    debug_assert_eq!(opened.len(), msg.len());
    black_box(opened);
}

fn bench_seal_open(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2024);
    let mut group = c.benchmark_group("auth/seal_open");
    for size in SIZES {
        let msg = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));

        let (mut a, mut b) = (NoAuth::new(), NoAuth::new());
        let none = SecretKey::from_vec(Vec::new());
        group.bench_with_input(BenchmarkId::new("none", size), &msg, |bench, msg| {
            bench.iter(|| round(&mut a, &mut b, msg, &none))
        });

        // Default policy (2^20 frames or 1 GiB per key and direction); 64 keys to start with.
        let (mut a, mut b) =
            AesGcmAuth::pair(material(&mut rng, 32 * 64), AesGcmPolicy::default()).unwrap();
        let refill = material(&mut rng, 32 * 64);
        group.bench_with_input(BenchmarkId::new("aes-256-gcm", size), &msg, |bench, msg| {
            bench.iter(|| round(&mut a, &mut b, msg, &refill))
        });

        // 128 bits of pad per frame; refilled 64 KiB at a time.
        let wc_policy = WegmanCarterPolicy {
            reserve_pads: 64,
            low_watermark_pads: 1024,
        };
        let (mut a, mut b) =
            WegmanCarterAuth::pair(material(&mut rng, 16 + 64 * 1024), wc_policy).unwrap();
        let refill = material(&mut rng, 64 * 1024);
        group.bench_with_input(
            BenchmarkId::new("wegman-carter", size),
            &msg,
            |bench, msg| bench.iter(|| round(&mut a, &mut b, msg, &refill)),
        );

        let (mut a, mut b) = MlDsa44Auth::generate_pair(&mut rng);
        group.bench_with_input(BenchmarkId::new("ml-dsa-44", size), &msg, |bench, msg| {
            bench.iter(|| round(&mut a, &mut b, msg, &none))
        });

        let (mut a, mut b) = MlDsa65Auth::generate_pair(&mut rng);
        group.bench_with_input(BenchmarkId::new("ml-dsa-65", size), &msg, |bench, msg| {
            bench.iter(|| round(&mut a, &mut b, msg, &none))
        });
    }
    group.finish();

    // SLH-DSA signs in tens of milliseconds: fewer samples.
    let mut group = c.benchmark_group("auth/seal_open_slh");
    group.sample_size(10);
    for size in SIZES {
        let msg = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let none = SecretKey::from_vec(Vec::new());
        let (mut a, mut b) = SlhDsaAuth::generate_pair(&mut rng);
        group.bench_with_input(
            BenchmarkId::new("slh-dsa-shake-128f", size),
            &msg,
            |bench, msg| bench.iter(|| round(&mut a, &mut b, msg, &none)),
        );
        let (mut a, mut b) = SlhDsaSha2Auth::generate_pair(&mut rng);
        group.bench_with_input(
            BenchmarkId::new("slh-dsa-sha2-128f", size),
            &msg,
            |bench, msg| bench.iter(|| round(&mut a, &mut b, msg, &none)),
        );
    }
    group.finish();
}

fn bench_keygen(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut group = c.benchmark_group("auth/keygen");
    group.bench_function("ml-dsa-44", |bench| {
        bench.iter(|| black_box(MlDsa44Auth::generate_keypair(&mut rng)))
    });
    group.bench_function("ml-dsa-65", |bench| {
        bench.iter(|| black_box(MlDsa65Auth::generate_keypair(&mut rng)))
    });
    group.sample_size(10);
    group.bench_function("slh-dsa-shake-128f", |bench| {
        bench.iter(|| black_box(SlhDsaAuth::generate_keypair(&mut rng)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench_seal_open, bench_keygen
}
criterion_main!(benches);
