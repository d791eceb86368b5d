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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import dema_update, ensure_venv  # noqa: E402


def main():
    ensure_venv()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlavaConfig, LlavaForConditionalGeneration

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
    model = LlavaForConditionalGeneration(config).float()
    model.requires_grad_(False)
    r = args.lora_r
    lora = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, bias="none",
                      target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
    model = get_peft_model(model, lora)
    projector = [p for n, p in model.named_parameters() if "multi_modal_projector" in n]
    for p in projector:
        p.requires_grad_(True)
    adapters = [p for n, p in model.named_parameters() if "lora_" in n]
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optim = torch.optim.AdamW([{"params": adapters, "lr": 2e-4}, {"params": projector, "lr": 2e-5}],
                              betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
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
    state, step_s, dema_s = {}, [], []
    model.train()
    for i in range(args.steps + 2):
        start = time.perf_counter()
        out = model(input_ids=ids, pixel_values=pixels, labels=labels)
        out.loss.backward()
        optim.step()
        stepped = time.perf_counter()
        dema_update(state, trainable)
        optim.zero_grad(set_to_none=False)
        if i >= 2:
            step_s.append(stepped - start)
            dema_s.append(time.perf_counter() - stepped)
    step, dema = sum(step_s) / len(step_s), sum(dema_s) / len(dema_s)
    print(json.dumps({"step_ms": step * 1e3, "tokens_per_s": args.batch * length / step,
                      "dema_ms": dema * 1e3, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
