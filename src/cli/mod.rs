//! Command-line types and subcommands.

mod check;
mod generate;
mod inspect;
mod route;
mod run;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lcia_backends::{DeviceSpec, compiled_backends};

/// Continual instruction tuning of multimodal LLMs (LCIA) on Burn: train a LLaVA-style model
/// on one instruction task after another with the balanced EMA and instruction grouping, and
/// measure what it forgets.
#[derive(Debug, Parser)]
#[command(name = "lcia", version, about, long_about = None)]
pub struct Cli {
    /// Where to compute: ndarray (CPU), wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N (the GPU
    /// backends need a build with --features wgpu or cuda; `lcia devices` lists them).
    #[arg(long, global = true, default_value = "ndarray")]
    pub device: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a continual task sequence from a run.toml: train each task, checkpoint it, evaluate
    /// every task seen so far, and write the accuracy matrix, metrics, report and plots.
    Run {
        /// The run configuration (TOML; see the README for an example).
        #[arg(long)]
        config: PathBuf,
        /// Output directory (default: runs/<config file stem>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue a run directory after its last finished task.
        #[arg(long)]
        resume: bool,
        /// Stop once this many tasks have finished (resume later with --resume).
        #[arg(long)]
        stop_after: Option<usize>,
    },
    /// The embedded demo: generate a synthetic 5-task benchmark, train a tiny LLaVA from
    /// random weights on its captions, run sequential LoRA, fixed EMA 0.99, LCIA and multitask
    /// on it, and print the comparison (no download; minutes on a CPU).
    Demo {
        /// The smoke-test sizes (about two minutes).
        #[arg(long)]
        quick: bool,
        /// Output directory (default: runs/demo or runs/demo-quick); finished parts are reused.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The real small-scale reproduction: SmolLM2-135M-Instruct (from the fetched GGUF) with a
    /// ViT trained here, on six easy-VQA instruction tasks learned one after another, compared
    /// across zero-shot, sequential LoRA, EMA 0.99, DEMA only, grouping only, LCIA and
    /// multitask (run scripts/fetch-assets.sh first; an hour or more on two cores, --quick less).
    EasyVqa {
        /// Smaller sizes (fewer training and test questions per task).
        #[arg(long)]
        quick: bool,
        /// The asset cache filled by scripts/fetch-assets.sh.
        #[arg(long, default_value = "assets/cache")]
        assets: PathBuf,
        /// Output directory (default: runs/easy-vqa or runs/easy-vqa-quick); finished parts
        /// are reused.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Evaluate one checkpoint (a parameter-set directory) on tasks of a run.toml; writes
    /// predictions JSONL (CoIN answer-file fields) and accuracy.json.
    Eval {
        /// The run configuration naming the base model, tokenizer and tasks.
        #[arg(long)]
        config: PathBuf,
        /// The checkpoint directory (adapter_model.safetensors, non_lora_trainables.safetensors).
        #[arg(long)]
        checkpoint: PathBuf,
        /// Tasks to evaluate (default: all tasks of the configuration).
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<String>,
        /// Output directory (default: <checkpoint>-eval beside the checkpoint).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show which instruction group (parameter set) of a run an instruction is routed to, with
    /// the similarity to every group and the threshold.
    Route {
        /// The run directory (its config.json and codebook.json are used).
        #[arg(long)]
        run: PathBuf,
        /// Task name, for its instruction-extraction rule (Grounding, ImageNet or other).
        #[arg(long, default_value = "")]
        task: String,
        /// The test prompt or instruction.
        instruction: String,
    },
    /// Inspect a run directory (lineage, matrix, metrics) or a HuggingFace model directory
    /// (type, parameter counts, training memory plan, load and forward timing).
    Inspect {
        /// A run directory (with manifest.json) or a model directory (with config.json).
        path: PathBuf,
        /// Text tokens in the timed sequence (model directories).
        #[arg(long, default_value_t = 16)]
        tokens: usize,
        /// Timed forwards (model directories).
        #[arg(long, default_value_t = 20)]
        repeat: usize,
        /// LoRA rank of the memory plan.
        #[arg(long, default_value_t = 128)]
        lora_r: usize,
        /// Parameter sets of the memory plan.
        #[arg(long, default_value_t = 4)]
        sets: u64,
    },
    /// Answer one prompt (with an optional image) greedily, optionally with a checkpoint's
    /// adapters and projector; a text-only Llama directory (e.g. from import-gguf) answers
    /// text prompts.
    Generate {
        /// HF LLaVA (or text-only Llama) model directory.
        #[arg(long)]
        model: PathBuf,
        /// tokenizer.json (default: <model>/tokenizer.json).
        #[arg(long)]
        tokenizer: Option<PathBuf>,
        /// A checkpoint directory (adapter_config.json, adapter_model.safetensors,
        /// non_lora_trainables.safetensors) to load on top of the base model.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// An image file.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Most new tokens.
        #[arg(long, default_value_t = 128)]
        max_new_tokens: usize,
        /// Conversation template: vicuna-v1, or chat-ml (with --system); default: what the
        /// model's tokenizer_config.json chat_template uses (vicuna-v1 without one).
        #[arg(long)]
        template: Option<String>,
        /// System message of the chat-ml template.
        #[arg(long, requires = "template")]
        system: Option<String>,
        /// The question or instruction.
        prompt: String,
    },
    /// Import a Llama-architecture GGUF file (llama.cpp format; F32, F16, BF16, Q8_0, Q4_0,
    /// Q4_1 tensors) as an HF-style directory: config.json, model.safetensors (f32),
    /// tokenizer.json and tokenizer_config.json from the GGUF metadata.
    ImportGguf {
        /// The .gguf file.
        file: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the backends compiled into this binary and the --device values they accept.
    Devices,
    /// Run a tiny training step with the balanced EMA on --device, to check the backend works.
    Check {
        /// Optimizer steps to run.
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let spec: DeviceSpec = cli.device.parse()?;
    match cli.command {
        Command::Run {
            config,
            out,
            resume,
            stop_after,
        } => {
            let out = out.unwrap_or_else(|| {
                let stem = config
                    .file_stem()
                    .map_or("run".into(), |s| s.to_os_string());
                PathBuf::from("runs").join(stem)
            });
            let task = run::RunTask {
                config,
                out,
                resume,
                stop_after,
            };
            print!("{}", lcia_backends::dispatch(&spec, task)??);
        }
        Command::Demo { quick, out } => {
            let out = out.unwrap_or_else(|| {
                PathBuf::from(if quick {
                    "runs/demo-quick"
                } else {
                    "runs/demo"
                })
            });
            print!(
                "{}",
                lcia_backends::dispatch(&spec, run::DemoTask { quick, out })??
            );
        }
        Command::EasyVqa { quick, assets, out } => {
            let out = out.unwrap_or_else(|| {
                PathBuf::from(if quick {
                    "runs/easy-vqa-quick"
                } else {
                    "runs/easy-vqa"
                })
            });
            let task = run::EasyVqaTask { quick, assets, out };
            print!("{}", lcia_backends::dispatch(&spec, task)??);
        }
        Command::Eval {
            config,
            checkpoint,
            tasks,
            out,
        } => {
            let out = out.unwrap_or_else(|| {
                let mut name = checkpoint.file_name().unwrap_or_default().to_os_string();
                name.push("-eval");
                checkpoint.with_file_name(name)
            });
            let task = run::EvalTask {
                config,
                checkpoint,
                tasks,
                out,
            };
            print!("{}", lcia_backends::dispatch(&spec, task)??);
        }
        Command::Route {
            run,
            task,
            instruction,
        } => {
            let task = route::RouteTask {
                run,
                task,
                instruction,
            };
            print!("{}", lcia_backends::dispatch(&spec, task)??);
        }
        Command::Inspect {
            path,
            tokens,
            repeat,
            lora_r,
            sets,
        } => {
            if path.join(lcia::continual::manifest::MANIFEST).is_file() {
                print!("{}", inspect::run_summary(&path)?);
            } else {
                let task = inspect::Inspect {
                    dir: path,
                    tokens,
                    repeat,
                    lora_r,
                    sets,
                };
                print!("{}", lcia_backends::dispatch(&spec, task)??);
            }
        }
        Command::Generate {
            model,
            tokenizer,
            checkpoint,
            image,
            max_new_tokens,
            template,
            system,
            prompt,
        } => {
            let template = match template.as_deref() {
                None => None,
                Some("vicuna-v1" | "vicuna_v1") => Some(lcia::data::Template::VicunaV1),
                Some("chat-ml" | "chat_ml" | "chatml") => {
                    Some(lcia::data::Template::ChatMl { system })
                }
                Some(other) => anyhow::bail!("unknown --template '{other}' (vicuna-v1, chat-ml)"),
            };
            let task = generate::GenerateTask {
                template,
                model,
                tokenizer,
                checkpoint,
                image,
                max_new_tokens,
                prompt,
            };
            println!("{}", lcia_backends::dispatch(&spec, task)??);
        }
        Command::ImportGguf { file, out } => {
            let summary = lcia::model::gguf::import_gguf(&file, &out)
                .with_context(|| format!("importing {}", file.display()))?;
            println!(
                "{} -> {}: {} tensors, {} parameters (source types {:?}), tied embeddings: {}, \
                 vocabulary {}",
                file.display(),
                out.display(),
                summary.tensors,
                summary.parameters,
                summary.source_types,
                summary.tied_embeddings,
                summary.vocab_size
            );
        }
        Command::Devices => {
            for kind in compiled_backends() {
                let forms = match kind.feature() {
                    "ndarray" => "ndarray",
                    "wgpu" => "wgpu, wgpu:N, wgpu:cpu",
                    _ => "cuda, cuda:N",
                };
                println!("{kind:<8} --device {forms}");
            }
        }
        Command::Check { steps } => {
            let report = lcia_backends::dispatch(&spec, check::TinyStep { steps })
                .with_context(|| format!("running the check on {spec}"))?;
            println!("{report}");
        }
    }
    Ok(())
}
