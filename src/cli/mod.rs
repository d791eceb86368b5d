//! Command-line types and subcommands.

mod check;
mod inspect;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lcia_backends::{DeviceSpec, compiled_backends};

/// Continual instruction tuning of multimodal LLMs (LCIA) on Burn.
#[derive(Debug, Parser)]
#[command(name = "lcia", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the backends compiled into this binary and the --device values they accept.
    Devices,
    /// Run a tiny training step with the balanced EMA on a device, to check the backend works.
    Check {
        /// ndarray, wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N.
        #[arg(long, default_value = "ndarray")]
        device: String,
        /// Optimizer steps to run.
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Show a HuggingFace model directory's type and parameter count, load it and time a forward.
    Inspect {
        /// Directory with config.json (and model.safetensors or a sharded index).
        dir: std::path::PathBuf,
        /// ndarray, wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N.
        #[arg(long, default_value = "ndarray")]
        device: String,
        /// Text tokens in the timed sequence.
        #[arg(long, default_value_t = 16)]
        tokens: usize,
        /// Timed forwards.
        #[arg(long, default_value_t = 20)]
        repeat: usize,
    },
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices => {
            for kind in compiled_backends() {
                let forms = match kind.feature() {
                    "ndarray" => "ndarray",
                    "wgpu" => "wgpu, wgpu:N, wgpu:cpu",
                    _ => "cuda, cuda:N",
                };
                println!("{kind:<8} --device {forms}");
            }
            Ok(())
        }
        Command::Check { device, steps } => {
            let spec: DeviceSpec = device.parse()?;
            let report = lcia_backends::dispatch(&spec, check::TinyStep { steps })
                .with_context(|| format!("running the check on {spec}"))?;
            println!("{report}");
            Ok(())
        }
        Command::Inspect {
            dir,
            device,
            tokens,
            repeat,
        } => {
            let spec: DeviceSpec = device.parse()?;
            let task = inspect::Inspect {
                dir,
                tokens,
                repeat,
            };
            let report = lcia_backends::dispatch(&spec, task)??;
            print!("{report}");
            Ok(())
        }
    }
}
