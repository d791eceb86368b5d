"""Makes docs/performance.md's table: lcia (Burn ndarray) beside PyTorch eager (transformers +
PEFT, bench/.venv) on the same machine, in one run, f32, with the same thread count on both
sides, for the demo model and the 68.6 M-parameter LLaVA of assets/configs/bench-68m.

Usage: python3 bench/performance.py [--threads 1,2] [--out target/bench/performance.md]
Builds the two examples in release mode first. Prints the Markdown table and writes it to --out.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, "bench", ".venv", "bin", "python")
LARGE = ["--config", "assets/configs/bench-68m/config.json", "--batch", "4", "--text", "64",
         "--labels", "32", "--lora-r", "16", "--steps", "5"]


def run(cmd, env=None):
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def demo_rows(name):
    """The measures demo_bench / pytorch_reference.py wrote to target/bench/NAME.json."""
    with open(os.path.join(ROOT, "target", "bench", f"{name}.json")) as f:
        rows = json.load(f)
    return {"step_ms": rows["training step (fwd + bwd + AdamW), ms"],
            "tokens_per_s": rows["training tokens/s"], "dema_ms": rows["DEMA update, ms"],
            "decode": rows["generation decode tokens/s"]}


def lcia_demo(threads):
    run(["target/release/examples/demo_bench"], dict(os.environ, MATMUL_NUM_THREADS=str(threads)))
    return demo_rows("lcia")


def torch_demo(threads):
    run([PY, "bench/pytorch_reference.py", "20", "8", str(threads)])
    return demo_rows("pytorch")


def lcia_large(threads):
    env = dict(os.environ, MATMUL_NUM_THREADS=str(threads))
    text = run(["target/release/examples/step_bench", *LARGE], env)
    row = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    return {"step_ms": float(cells[0]), "tokens_per_s": float(cells[6]), "dema_ms": float(cells[4]),
            "decode": None}


def torch_large(threads):
    text = run([PY, "bench/pytorch_step.py", *LARGE, "--threads", str(threads)])
    row = json.loads(text.strip().splitlines()[-1])
    row["decode"] = None
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--out", default="target/bench/performance.md")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--locked", "--example", "demo_bench",
                    "--example", "step_bench"], cwd=ROOT, check=True)
    lines = [
        f"Measured {datetime.date.today()} on {cpu_name()} ({os.cpu_count()} CPUs), f32, one run "
        "of bench/performance.py; lcia: Burn 0.21 ndarray, MATMUL_NUM_THREADS = threads; "
        "PyTorch: eager, torch.set_num_threads(threads).",
        "",
        "| model | threads | lcia step ms | PyTorch step ms | tokens/s lcia / PyTorch | DEMA % of step (lcia, PyTorch) | decode tokens/s lcia / PyTorch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in [int(t) for t in args.threads.split(",")]:
        for name, ours, theirs in [("demo (8 x 106 tokens, LoRA r 8)", lcia_demo, torch_demo),
                                   ("68.6 M (4 x 321 tokens, 32 labelled, LoRA r 16)", lcia_large, torch_large)]:
            a, b = ours(threads), theirs(threads)
            decode = "-" if a["decode"] is None else f"{a['decode']:.0f} / {b['decode']:.0f} = {a['decode'] / b['decode']:.2f}"
            lines.append(
                f"| {name} | {threads} | {a['step_ms']:.1f} | {b['step_ms']:.1f} | "
                f"{a['tokens_per_s'] / b['tokens_per_s']:.2f} | "
                f"{100 * a['dema_ms'] / a['step_ms']:.2f}, {100 * b['dema_ms'] / b['step_ms']:.2f} | {decode} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.join(ROOT, args.out)), exist_ok=True)
    with open(os.path.join(ROOT, args.out), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
