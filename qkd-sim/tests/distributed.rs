//! Distributed link with real processes on loopback: Bob, the middle process and Alice as three
//! `qkd-sim-node` processes (for BB84 the middle applies the channel model and Eve; for E91 it is
//! the pair source). The middle process is killed mid-run: both ends must report the failure,
//! and every key either end delivered must be complete and equal to the peer's.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const NODE: &str = env!("CARGO_BIN_EXE_qkd-sim-node");

struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(args: &[String]) -> Proc {
        let mut child = Command::new(NODE)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn qkd-sim-node");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from the process within 60 s")
    }

    /// Collects lines until the process's stdout closes.
    fn rest(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) {
            out.push(line);
        }
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .to_string()
}

fn read_keys(path: &Path) -> BTreeMap<u64, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut keys = BTreeMap::new();
    let mut rest = &bytes[..];
    while rest.len() >= 16 {
        let index = u64::from_le_bytes(rest[..8].try_into().unwrap());
        let len = u64::from_le_bytes(rest[8..16].try_into().unwrap()) as usize;
        assert!(rest.len() >= 16 + len, "truncated key record");
        keys.insert(index, rest[16..16 + len].to_vec());
        rest = &rest[16 + len..];
    }
    assert!(rest.is_empty(), "partial key record");
    keys
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("qkd-sim-dist-{}-{name}", std::process::id()))
}

#[test]
fn killing_the_middle_process_fails_both_ends_without_partial_keys() {
    kill_the_middle_mid_run("bb84");
}

#[test]
fn killing_the_pair_source_fails_both_e91_ends_without_partial_keys() {
    kill_the_middle_mid_run("e91");
}

fn kill_the_middle_mid_run(protocol: &str) {
    let temp = |name: &str| temp(&format!("{protocol}-{name}"));
    let psk = temp("psk");
    std::fs::write(&psk, [0x5a; 256]).unwrap(); // AES-GCM bootstrap: 8 keys of 32 bytes
    let (alice_keys, bob_keys) = (temp("alice.keys"), temp("bob.keys"));
    let _ = std::fs::remove_file(&alice_keys);
    let _ = std::fs::remove_file(&bob_keys);
    let common = |keys: &Path| {
        vec![
            format!("--protocol={protocol}"),
            "--sifted-bits=65536".to_string(),
            "--depolarizing=0.02".to_string(),
            "--auth=aes-gcm".to_string(),
            format!("--psk-file={}", psk.display()),
            "--seed=9".to_string(),
            format!("--key-out={}", keys.display()),
        ]
    };

    let bob = Proc::spawn(&[vec!["bob".to_string()], common(&bob_keys)].concat());
    let ready = bob.line();
    let (classical, quantum) = (field(&ready, "classical="), field(&ready, "quantum="));
    let mut middle = Proc::spawn(
        &[
            vec!["middle".to_string(), format!("--bob-quantum={quantum}")],
            common(&bob_keys),
        ]
        .concat(),
    );
    let listen = field(&middle.line(), "listen=");
    let alice = Proc::spawn(
        &[
            vec![
                "alice".to_string(),
                format!("--bob-classical={classical}"),
                format!("--quantum={listen}"),
            ],
            common(&alice_keys),
        ]
        .concat(),
    );
    assert_eq!(alice.line(), "ready");
    // Let the link deliver two blocks at Alice, then kill the middle process.
    for expected in 0..2 {
        let line = alice.line();
        assert!(line.starts_with(&format!("block {expected} ")), "{line}");
    }
    middle.child.kill().unwrap();
    middle.child.wait().unwrap();

    let alice_out = alice.rest();
    let bob_out = bob.rest();
    let alice_err = alice_out.iter().find(|l| l.starts_with("error:"));
    let bob_err = bob_out.iter().find(|l| l.starts_with("error:"));
    assert!(
        alice_err.is_some(),
        "Alice reported no failure: {alice_out:?}"
    );
    assert!(bob_err.is_some(), "Bob reported no failure: {bob_out:?}");
    let mut alice = alice;
    let mut bob = bob;
    assert!(!alice.child.wait().unwrap().success());
    assert!(!bob.child.wait().unwrap().success());

    // Every key a process wrote is a complete record, and for every index both ends delivered
    // the keys are equal. At most the last block can be missing at one end (the two-generals
    // limit of any final handshake), never present with different content.
    let (a, b) = (read_keys(&alice_keys), read_keys(&bob_keys));
    assert!(a.len() >= 2, "Alice delivered {} blocks", a.len());
    for (index, key) in &a {
        if let Some(other) = b.get(index) {
            assert_eq!(key, other, "keys differ at index {index}");
        }
    }
    let common_blocks = a.keys().filter(|i| b.contains_key(i)).count();
    assert!(common_blocks + 1 >= a.len().max(b.len()));
    for path in [&psk, &alice_keys, &bob_keys] {
        let _ = std::fs::remove_file(path);
    }
}
