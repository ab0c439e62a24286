//! `qkd-sim-node`: one process of a distributed simulated QKD link (Alice, Bob, or the middle
//! process that applies the channel model and Eve), or `demo`, which runs all three on loopback.
//!
//! ```sh
//! cargo run --release -p qkd-sim --bin qkd-sim-node -- demo --blocks 5
//! ```
//!
//! Each process prints `ready ...` once listening/connected, then one `block <index> <bits>` line
//! per delivered block (`abort <index> <reason>` for an abandoned block) and exits with status 1
//! and an `error: ...` line when the link fails. Keys are never printed; `--key-out FILE` appends
//! each delivered key (index, length, bytes) to a file for tests that compare the two ends.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use clap::{Args, Parser, Subcommand, ValueEnum};
use qkd_core::{DeviceError, QuantumDevice, SecretKey};
use qkd_sim::device::distributed::{QuantumHop, run_middle, start_alice, start_bob};
use qkd_sim::device::{AuthConfig, EntangledProtocol, LinkConfig, SimulatedDevice};
use qkd_sim::eve::{EveBases, EveConfig};
use qkd_sim::qrng::RandomSource;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "One process of a distributed simulated QKD link")]
struct Cli {
    #[command(subcommand)]
    role: RoleCmd,
}

#[derive(Subcommand)]
enum RoleCmd {
    /// Bob: listens for the classical and quantum connections.
    Bob {
        #[command(flatten)]
        link: LinkArgs,
        /// Classical listen address (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        classical_listen: SocketAddr,
        /// Quantum listen address (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        quantum_listen: SocketAddr,
    },
    /// The middle process: relays quantum frames from Alice to Bob through Eve and the channel.
    Middle {
        #[command(flatten)]
        link: LinkArgs,
        /// Listen address for Alice's quantum connection (loopback).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Bob's quantum address.
        #[arg(long)]
        bob_quantum: SocketAddr,
    },
    /// Alice: connects to Bob (classical) and to the middle process or Bob (quantum).
    Alice {
        #[command(flatten)]
        link: LinkArgs,
        /// Bob's classical address.
        #[arg(long)]
        bob_classical: SocketAddr,
        /// Address of the middle process (or of Bob's quantum socket with --direct).
        #[arg(long)]
        quantum: SocketAddr,
        /// Send quantum frames straight to Bob, applying the channel model at Alice.
        #[arg(long)]
        direct: bool,
    },
    /// Runs Bob, the middle process and Alice as three processes on loopback.
    Demo {
        #[command(flatten)]
        link: LinkArgs,
    },
}

#[derive(Args, Clone)]
struct LinkArgs {
    /// The QKD protocol. E91 and BBM92 put the pair source in the middle process.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Bb84)]
    protocol: ProtocolArg,
    /// Sifted bits per block.
    #[arg(long, default_value_t = 1 << 16)]
    sifted_bits: usize,
    /// Depolarizing probability of the quantum channel (QBER = d/2).
    #[arg(long, default_value_t = 0.02)]
    depolarizing: f64,
    /// Fraction of qubits Eve intercepts and resends (0 = no Eve).
    #[arg(long, default_value_t = 0.0)]
    eve: f64,
    /// Authentication of the classical channel.
    #[arg(long, value_enum, default_value_t = Auth::AesGcm)]
    auth: Auth,
    /// File holding the pre-shared bootstrap secret (raw bytes); not needed with --auth none.
    #[arg(long)]
    psk_file: Option<PathBuf>,
    /// Reproducible randomness (derived per party); OS CSPRNG when absent.
    #[arg(long)]
    seed: Option<u64>,
    /// Blocks to deliver before exiting (0 = until the link fails).
    #[arg(long, default_value_t = 0)]
    blocks: u64,
    /// Append delivered keys to this file (for tests comparing both ends).
    #[arg(long)]
    key_out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    Bb84,
    E91,
    Bbm92,
}

#[derive(Clone, Copy, ValueEnum)]
enum Auth {
    None,
    AesGcm,
    WegmanCarter,
}

impl LinkArgs {
    fn config(&self) -> Result<LinkConfig, String> {
        let mut config = match self.protocol {
            ProtocolArg::Bb84 => LinkConfig::bb84(self.sifted_bits, self.depolarizing),
            ProtocolArg::E91 => {
                LinkConfig::entangled(EntangledProtocol::E91, self.sifted_bits, self.depolarizing)
            }
            ProtocolArg::Bbm92 => LinkConfig::entangled(
                EntangledProtocol::Bbm92,
                self.sifted_bits,
                self.depolarizing,
            ),
        };
        config.auth = match self.auth {
            Auth::None => AuthConfig::None,
            Auth::AesGcm => AuthConfig::aes_gcm(),
            Auth::WegmanCarter => AuthConfig::WegmanCarter,
        };
        if self.eve > 0.0 {
            config.eve = Some(EveConfig::new(self.eve, EveBases::Bb84).map_err(|e| e.to_string())?);
        }
        if let Some(seed) = self.seed {
            config.randomness = RandomSource::Seeded(seed);
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    fn bootstrap(&self, config: &LinkConfig) -> Result<SecretKey, String> {
        match &self.psk_file {
            Some(path) => std::fs::read(path)
                .map(SecretKey::from_vec)
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            None if config.auth.bootstrap_bytes() == 0 => Ok(SecretKey::from_vec(Vec::new())),
            None => Err(format!("--auth {} needs --psk-file", config.auth.name())),
        }
    }

    fn to_args(&self, psk: &std::path::Path) -> Vec<String> {
        let mut args = vec![
            format!(
                "--protocol={}",
                match self.protocol {
                    ProtocolArg::Bb84 => "bb84",
                    ProtocolArg::E91 => "e91",
                    ProtocolArg::Bbm92 => "bbm92",
                }
            ),
            format!("--sifted-bits={}", self.sifted_bits),
            format!("--depolarizing={}", self.depolarizing),
            format!("--eve={}", self.eve),
            format!("--blocks={}", self.blocks),
            format!("--psk-file={}", psk.display()),
            format!(
                "--auth={}",
                match self.auth {
                    Auth::None => "none",
                    Auth::AesGcm => "aes-gcm",
                    Auth::WegmanCarter => "wegman-carter",
                }
            ),
        ];
        if let Some(seed) = self.seed {
            args.push(format!("--seed={seed}"));
        }
        args
    }
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Pulls blocks until `args.blocks` are delivered or the link fails.
async fn pull(device: SimulatedDevice, args: &LinkArgs) -> Result<(), String> {
    let mut keys = match &args.key_out {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut delivered = 0;
    while args.blocks == 0 || delivered < args.blocks {
        match device.next_block().await {
            Ok(block) => {
                delivered += 1;
                if let Some(file) = keys.as_mut() {
                    let mut record = Vec::new();
                    record.extend_from_slice(&block.index.to_le_bytes());
                    record.extend_from_slice(&(block.key.len() as u64).to_le_bytes());
                    record.extend_from_slice(block.key.expose_secret());
                    file.write_all(&record).map_err(|e| e.to_string())?;
                    file.flush().map_err(|e| e.to_string())?;
                }
                say(format!("block {} {}", block.index, block.stats.final_bits));
            }
            Err(
                e @ (DeviceError::QberAboveThreshold { .. } | DeviceError::PostProcessing { .. }),
            ) => {
                say(format!("abort {e}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.role {
        RoleCmd::Bob {
            link,
            classical_listen,
            quantum_listen,
        } => {
            let config = link.config()?;
            let bootstrap = link.bootstrap(&config)?;
            let classical = TcpListener::bind(classical_listen)
                .await
                .map_err(|e| e.to_string())?;
            let quantum = TcpListener::bind(quantum_listen)
                .await
                .map_err(|e| e.to_string())?;
            say(format!(
                "ready classical={} quantum={}",
                classical.local_addr().map_err(|e| e.to_string())?,
                quantum.local_addr().map_err(|e| e.to_string())?
            ));
            let device = start_bob(&config, &classical, &quantum, bootstrap)
                .await
                .map_err(|e| e.to_string())?;
            pull(device, &link).await
        }
        RoleCmd::Middle {
            link,
            listen,
            bob_quantum,
        } => {
            let config = link.config()?;
            let listener = TcpListener::bind(listen).await.map_err(|e| e.to_string())?;
            say(format!(
                "ready listen={}",
                listener.local_addr().map_err(|e| e.to_string())?
            ));
            let report = run_middle(&config, &listener, bob_quantum)
                .await
                .map_err(|e| e.to_string())?;
            let what = if config.entangled.is_some() {
                "served pairs to both ends in"
            } else {
                "relayed"
            };
            say(format!(
                "{what} {} frames; ended: {}",
                report.frames, report.ended_by
            ));
            Ok(())
        }
        RoleCmd::Alice {
            link,
            bob_classical,
            quantum,
            direct,
        } => {
            let config = link.config()?;
            let bootstrap = link.bootstrap(&config)?;
            let hop = if direct {
                QuantumHop::Direct(quantum)
            } else {
                QuantumHop::Middle(quantum)
            };
            let device = start_alice(&config, bob_classical, hop, bootstrap)
                .await
                .map_err(|e| e.to_string())?;
            say("ready".into());
            pull(device, &link).await
        }
        RoleCmd::Demo { mut link } => demo(&mut link),
    }
}

/// Reads lines from a child's stdout until one starts with `ready`, echoing them.
fn wait_ready(name: &str, child: &mut std::process::Child) -> Result<String, String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        println!("[{name}] {line}");
        if line.starts_with("ready") {
            let name = name.to_string();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    println!("[{name}] {line}");
                }
            });
            return Ok(line);
        }
    }
    Err(format!("{name} exited before it was ready"))
}

fn field(line: &str, key: &str) -> Result<String, String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(str::to_string)
        .ok_or_else(|| format!("no {key} in {line:?}"))
}

fn demo(link: &mut LinkArgs) -> Result<(), String> {
    if link.blocks == 0 {
        link.blocks = 5;
    }
    let config = link.config()?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let psk = std::env::temp_dir().join(format!("qkd-sim-demo-{}.psk", std::process::id()));
    let mut secret = vec![0u8; config.auth.bootstrap_bytes()];
    rand::fill(&mut secret[..]);
    std::fs::write(&psk, &secret).map_err(|e| e.to_string())?;
    let common = link.to_args(&psk);
    let spawn = |args: Vec<String>| {
        Command::new(&exe)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())
    };
    let mut bob = spawn([vec!["bob".to_string()], common.clone()].concat())?;
    let ready = wait_ready("bob", &mut bob)?;
    let (bob_classical, bob_quantum) = (field(&ready, "classical=")?, field(&ready, "quantum=")?);
    let mut middle = spawn(
        [
            vec!["middle".to_string(), format!("--bob-quantum={bob_quantum}")],
            common.clone(),
        ]
        .concat(),
    )?;
    let middle_addr = field(&wait_ready("middle", &mut middle)?, "listen=")?;
    let mut alice = spawn(
        [
            vec![
                "alice".to_string(),
                format!("--bob-classical={bob_classical}"),
                format!("--quantum={middle_addr}"),
            ],
            common,
        ]
        .concat(),
    )?;
    wait_ready("alice", &mut alice)?;
    let results = [alice.wait(), bob.wait()];
    let _ = middle.wait();
    let _ = std::fs::remove_file(&psk);
    for status in results {
        let status = status.map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("a process failed: {status}"));
        }
    }
    println!(
        "demo: Alice, the middle process and Bob ran on loopback; both ends delivered the blocks above"
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        say(format!("error: {e}"));
        std::process::exit(1);
    }
}
