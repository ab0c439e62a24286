//! The reference implementations in qkd-core pass their conformance suites.

use qkd_core::conformance::device::{PairedTestDevice, run_quantum_device_suite};
use qkd_core::conformance::store::run_key_store_suite;
use qkd_core::{DeviceError, MemoryStore, QuantumDevice};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_key_store_suite() {
    run_key_store_suite(|capacity| async move { MemoryStore::with_default_capacity(capacity) })
        .await;
}

#[tokio::test]
async fn paired_test_device_passes_device_suite() {
    run_quantum_device_suite(|| async { PairedTestDevice::pair(42, 32) }).await;
}

#[tokio::test]
async fn paired_test_device_with_aborts_passes_device_suite() {
    run_quantum_device_suite(|| async {
        let (a, b) = PairedTestDevice::pair(43, 16);
        (a.with_abort_every(3), b.with_abort_every(3))
    })
    .await;
}

#[tokio::test]
async fn paired_test_device_abort_names_index_and_shutdown_sticks() {
    let (a, _b) = PairedTestDevice::pair(1, 8);
    let a = a.with_abort_every(2);
    match a.next_block().await {
        Err(DeviceError::QberAboveThreshold { index: 0, .. }) => {}
        other => panic!("index 0 must abort, got {:?}", other.map(|b| b.index)),
    }
    assert_eq!(a.next_block().await.unwrap().index, 1);
    a.shutdown();
    assert_eq!(a.next_block().await.unwrap_err(), DeviceError::Shutdown);
    assert_eq!(a.next_block().await.unwrap_err(), DeviceError::Shutdown);
}

#[tokio::test]
async fn different_seeds_give_different_keys() {
    let (a, _) = PairedTestDevice::pair(1, 32);
    let (c, _) = PairedTestDevice::pair(2, 32);
    assert_ne!(
        a.next_block().await.unwrap().key,
        c.next_block().await.unwrap().key
    );
}
