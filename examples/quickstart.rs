//! Exercises the qkd-core traits end to end: a device pair delivers indexed key blocks, each site
//! splits them into chunks in its own key store, and both sites hand out the same keys.
//!
//! Run with `cargo run --example quickstart`.

use qkd_core::conformance::device::PairedTestDevice;
use qkd_core::{KeyStore, MemoryStore, QuantumDevice, StreamId};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (alice, bob) = PairedTestDevice::pair(2026, 256);
    let (store_a, store_b) = (MemoryStore::new(), MemoryStore::new());
    let stream = StreamId::new_random();
    const CHUNK: usize = 32;

    for _ in 0..4 {
        let (a, b) = tokio::join!(alice.next_block(), bob.next_block());
        let (a, b) = (a?, b?);
        println!(
            "block {:>2}: {} bits at both ends (indexes {} / {})",
            a.index,
            a.key.bit_len(),
            a.index,
            b.index
        );
        for (store, block) in [(&store_a, a), (&store_b, b)] {
            let per_block = (block.key.len() / CHUNK) as u64;
            let chunks = block
                .key
                .split_into_chunks(CHUNK)
                .into_iter()
                .enumerate()
                .map(|(i, k)| (block.index * per_block + i as u64, k))
                .collect();
            store.put(stream, chunks).await?;
        }
    }

    let reserved = store_a.reserve_next(stream, 4, "sae-b").await?;
    store_b.reserve(stream, &reserved, "sae-b").await?;
    let keys_a = store_a.take(stream, &reserved, Some("sae-b")).await?;
    let keys_b = store_b.take(stream, &reserved, Some("sae-b")).await?;
    for ((index, a), b) in reserved.iter().zip(&keys_a).zip(&keys_b) {
        println!(
            "key at index {index}: {a} — identical at both sites: {}",
            a == b
        );
        assert_eq!(a, b);
    }
    let counts = store_a.counts(stream).await?;
    println!(
        "site A: {} chunks available, {} reserved, capacity {}",
        counts.available, counts.reserved, counts.capacity
    );
    Ok(())
}
