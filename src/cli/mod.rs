//! Command-line types and subcommands: each subcommand's arguments are one clap `Args` struct
//! that the command runs on (through [`lcia_backends::dispatch`] when it computes).

mod check;
mod eval;
mod export;
mod generate;
mod inspect;
mod nodes;
mod route;
mod run;
mod score;
mod study;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use lcia_backends::{DeviceSpec, compiled_backends, dispatch, dispatch_many};

/// Continual instruction tuning of multimodal LLMs (LCIA) on Burn: train a LLaVA-style model
/// on one instruction task after another with the balanced EMA and instruction grouping, and
/// measure what it forgets.
#[derive(Debug, Parser)]
#[command(name = "lcia", version, about, long_about = None)]
pub struct Cli {
    /// Where to compute: ndarray (CPU), wgpu, wgpu:N, wgpu:cpu, cuda or cuda:N (the GPU
    /// backends need a build with --features wgpu or cuda; `lcia devices` lists them).
    #[arg(long, global = true, default_value = "ndarray")]
    pub device: DeviceSpec,
    /// CPU threads for the ndarray backend's matrix products and large element-wise
    /// operations, 1 to 4 (default: MATMUL_NUM_THREADS, else every core the process may use,
    /// at most 4; see docs/performance.md). Results are bit-identical for every count.
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(1..=4))]
    pub threads: Option<u64>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a continual task sequence from a run.toml: train each task, checkpoint it, evaluate
    /// every task seen so far, and write the accuracy matrix, metrics, report and plots.
    Run(run::RunArgs),
    /// The embedded demo: generate a synthetic 5-task benchmark, train a tiny LLaVA from
    /// random weights on its captions, run sequential LoRA, fixed EMA 0.99, LCIA and multitask
    /// on it, and print the comparison (no download; minutes on a CPU).
    Demo(run::DemoArgs),
    /// The real small-scale reproduction: SmolLM2-135M-Instruct (from the fetched GGUF) with a
    /// ViT trained here, on six easy-VQA instruction tasks learned one after another, compared
    /// across zero-shot, sequential LoRA, EMA 0.99, DEMA only, grouping only, LCIA and
    /// multitask (run scripts/fetch-assets.sh first; an hour or more on two cores, --quick less).
    EasyVqa(run::EasyVqaArgs),
    /// A study on the embedded demo (no download): `lcia study dema` measures the balanced EMA
    /// in the coefficient's 7B regime against no EMA, fixed EMAs and weight interpolation.
    Study(study::StudyArgs),
    /// Evaluate one checkpoint (a parameter-set directory) on tasks of a run.toml; writes
    /// predictions JSONL (CoIN answer-file fields) and accuracy.json.
    Eval(eval::EvalArgs),
    /// Score an existing answer file (the JSON lines of the official LLaVA/CoIN evaluation
    /// scripts: question_id, text) against a task's test file with lcia's scorers, without a
    /// model; prints the accuracy and writes per-item results.
    Score(score::ScoreArgs),
    /// Show which instruction group (parameter set) of a run an instruction is routed to, with
    /// the similarity to every group and the threshold.
    Route(route::RouteArgs),
    /// Inspect a run directory (lineage, matrix, metrics) or a HuggingFace model directory
    /// (type, parameter counts, training memory plan, load and forward timing).
    Inspect(inspect::InspectArgs),
    /// Answer one prompt (with an optional image) greedily, optionally with a checkpoint's
    /// adapters and projector; a text-only Llama directory (e.g. from import-gguf) answers
    /// text prompts.
    Generate(generate::GenerateArgs),
    /// Write a llava-hf model (optionally with a checkpoint's or PEFT adapter merged in, or kept
    /// beside it as a PEFT adapter) as a directory transformers 4.x or 5.x opens as it is:
    /// model.safetensors, config.json, generation_config.json and the tokenizer files.
    Export(export::ExportArgs),
    /// Import a Llama-architecture GGUF file (llama.cpp format; F32, F16, BF16, Q8_0, Q4_0,
    /// Q4_1 tensors) as an HF-style directory: config.json, model.safetensors (f32),
    /// tokenizer.json and tokenizer_config.json from the GGUF metadata.
    ImportGguf(ImportGgufArgs),
    /// List the backends compiled into this binary and the --device values they accept.
    Devices,
    /// Run a tiny training step with the balanced EMA on --device, to check the backend works.
    Check(check::CheckArgs),
    /// Start the orchestrator of a run over several processes or machines (burn-collective's
    /// global mode); each `lcia run --nodes N --node-rank R --orchestrator ...` joins it.
    Orchestrator(nodes::OrchestratorArgs),
}

/// `lcia import-gguf`.
#[derive(Debug, Args)]
pub struct ImportGgufArgs {
    /// The .gguf file.
    pub file: PathBuf,
    /// Output directory.
    #[arg(long)]
    pub out: PathBuf,
}

impl ImportGgufArgs {
    fn run(self) -> anyhow::Result<String> {
        let summary = lcia::model::gguf::import_gguf(&self.file, &self.out)
            .with_context(|| format!("importing {}", self.file.display()))?;
        Ok(format!(
            "{} -> {}: {} tensors, {} parameters (source types {:?}), tied embeddings: {}, \
             vocabulary {}\n",
            self.file.display(),
            self.out.display(),
            summary.tensors,
            summary.parameters,
            summary.source_types,
            summary.tied_embeddings,
            summary.vocab_size
        ))
    }
}

fn devices() -> String {
    let mut out = String::new();
    for kind in compiled_backends() {
        let forms = match kind.feature() {
            "ndarray" => "ndarray",
            "wgpu" => "wgpu, wgpu:N, wgpu:cpu",
            _ => "cuda, cuda:N",
        };
        out.push_str(&format!("{kind:<8} --device {forms}\n"));
    }
    out
}

/// Runs at a time when `--jobs` is not given: on the CPU backend the cores divided by its
/// threads ([`lcia_backends::runs_at_a_time`]), on a GPU one.
fn default_jobs(spec: &DeviceSpec) -> u64 {
    match spec {
        DeviceSpec::Ndarray => lcia_backends::runs_at_a_time(lcia_backends::cpu_threads()) as u64,
        _ => 1,
    }
}

/// Runs one parsed command line and prints what it reports.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let spec = cli.device;
    let jobs = |asked: &mut Option<u64>| {
        asked.get_or_insert_with(|| default_jobs(&spec));
    };
    let report = match cli.command {
        Command::Run(args) => {
            let specs = args.device_specs(spec)?;
            dispatch_many(&specs, args.checkpointing, args)??
        }
        Command::Demo(mut args) => {
            jobs(&mut args.jobs);
            dispatch(&spec, args)??
        }
        Command::EasyVqa(mut args) => {
            jobs(&mut args.jobs);
            dispatch(&spec, args)??
        }
        Command::Study(args) => match args.which {
            study::StudyCommand::Dema(mut args) => {
                jobs(&mut args.jobs);
                dispatch(&spec, args)??
            }
        },
        Command::Eval(args) => dispatch(&spec, args)??,
        Command::Route(args) => dispatch(&spec, args)??,
        Command::Score(args) => args.run()?,
        Command::Inspect(args) if args.is_run_dir() => inspect::run_summary(&args.path)?,
        Command::Inspect(args) => dispatch(&spec, args)??,
        Command::Generate(args) => dispatch(&spec, args)?? + "\n",
        Command::Export(args) => dispatch(&spec, args)??,
        Command::ImportGguf(args) => args.run()?,
        Command::Devices => devices(),
        Command::Orchestrator(args) => args.run()?,
        Command::Check(args) => {
            dispatch(&spec, args).with_context(|| format!("running the check on {spec}"))? + "\n"
        }
    };
    print!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_typed_and_ranged_by_clap() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        let cli = parse(&["lcia", "--device", "cuda:1", "check", "--steps", "3"]).unwrap();
        assert_eq!(cli.device, DeviceSpec::Cuda(1));
        assert!(matches!(
            cli.command,
            Command::Check(check::CheckArgs { steps: 3 })
        ));
        let err = parse(&["lcia", "check", "--steps", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--steps"), "{err}");
        let err = parse(&["lcia", "easy-vqa", "--jobs", "0"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--jobs"), "{err}");
        match parse(&["lcia", "study", "dema", "--jobs", "3"])
            .unwrap()
            .command
        {
            Command::Study(study::StudyArgs {
                which: study::StudyCommand::Dema(args),
            }) => assert_eq!(args.jobs, Some(3)),
            other => panic!("{other:?}"),
        }
        // Without --jobs: one run per GPU; on the CPU the cores divided by the threads.
        assert_eq!(default_jobs(&DeviceSpec::Cuda(0)), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(lcia_backends::runs_at_a_time(1), cores);
        assert_eq!(lcia_backends::runs_at_a_time(cores), 1);
        assert_eq!(lcia_backends::runs_at_a_time(2 * cores), 1);
        let err = parse(&["lcia", "--device", "tpu", "devices"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown device 'tpu'"), "{err}");
        let err = parse(&["lcia", "generate", "--model", "m", "--template", "x", "hi"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("vicuna-v1") && err.contains("chat-ml"),
            "{err}"
        );
        let cli = parse(&[
            "lcia",
            "run",
            "--config",
            "r.toml",
            "--checkpointing",
            "balanced",
            "--devices",
            "cuda:0,cuda:1",
        ]);
        match cli.unwrap().command {
            Command::Run(args) => {
                assert_eq!(args.checkpointing, lcia_backends::Checkpointing::Balanced);
                let specs = args.device_specs(DeviceSpec::Ndarray).unwrap();
                assert_eq!(specs, [DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]);
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&[
            "lcia",
            "run",
            "--config",
            "r.toml",
            "--checkpointing",
            "all",
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown checkpointing 'all': expected off or balanced"),
            "{err}"
        );
    }
}
