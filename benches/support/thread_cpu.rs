//! A criterion measurement of the benchmark thread's own CPU time, read from
//! `/proc/thread-self/schedstat` (Linux). It stays meaningful when other processes compete for the
//! cores; shared by the benches that report `cpu/` variants (`#[path]`-included, not a bench itself).

use criterion::Throughput;
use criterion::measurement::{Measurement, ValueFormatter};

/// CPU time consumed by the current thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat (Linux only)");
    stat.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .expect("schedstat starts with the on-CPU time in ns")
}

/// Criterion measurement: CPU time of the benchmark thread.
pub struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Formats CPU nanoseconds like criterion formats wall time.
pub struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = match typical {
            t if t < 1e3 => (1.0, "ns cpu"),
            t if t < 1e6 => (1e3, "µs cpu"),
            t if t < 1e9 => (1e6, "ms cpu"),
            _ => (1e9, "s cpu"),
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }

    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let (per_iter, div, unit) = match *t {
            Throughput::Bytes(b) | Throughput::BytesDecimal(b) => {
                (b as f64, (1u64 << 30) as f64, "GiB/s cpu")
            }
            Throughput::Elements(e) => (e as f64, 1e6, "Melem/s cpu"),
            Throughput::Bits(b) => (b as f64, 1e6, "Mbit/s cpu"),
            _ => (1.0, 1.0, "iter/s cpu"),
        };
        values
            .iter_mut()
            .for_each(|v| *v = per_iter * 1e9 / *v / div);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
