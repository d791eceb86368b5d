"""PyTorch twin of `cargo run --release --example step_bench`: one LLaVA LoRA training step
(forward + backward + AdamW with two learning rates, then the balanced EMA written line by line)
of a model built from a config with random weights, transformers + PEFT, f32, eager.

Usage: python3 bench/pytorch_step.py --config assets/configs/bench-68m/config.json \
           [--batch 4] [--text 64] [--labels 32] [--lora-r 16] [--steps 5] [--threads N]
Labels: the ids on the last --labels text positions (default: every text position). Prints one
JSON line with step_ms, tokens_per_s, dema_ms, threads. Uses bench/.venv (pytorch_reference.py
makes it).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import ensure_venv, lora_llava, time_training  # noqa: E402


def main():
    ensure_venv()
    import torch
    from transformers import LlavaConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--text", type=int, default=64)
    ap.add_argument("--labels", type=int, default=None)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    with open(args.config) as f:
        config = LlavaConfig(**json.load(f))
    model, trainable, optim = lora_llava(config, args.lora_r)
    vc = config.vision_config
    image_tokens = (vc.image_size // vc.patch_size) ** 2
    vocab = min(config.text_config.vocab_size, config.image_token_index) - 3
    rows = [[1] + [config.image_token_index] * image_tokens + [3 + (i * 31 + b) % vocab for i in range(args.text)]
            for b in range(args.batch)]
    ids = torch.tensor(rows)
    length = ids.shape[1]
    labels = ids.clone()
    supervised = length if args.labels is None else min(args.labels, args.text)
    labels[:, : length - supervised] = -100
    pixels = torch.randn(args.batch, 3, vc.image_size, vc.image_size)
    step, dema = time_training(model, trainable, optim, ids, pixels, labels, args.steps, 2)
    print(json.dumps({"step_ms": step * 1e3, "tokens_per_s": args.batch * length / step,
                      "dema_ms": dema * 1e3, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
