"""PyTorch reference for `cargo run --release --example demo_bench`: the same demo LLaVA
(assets/demo/config.json, random weights) with transformers, the same LoRA with PEFT (r 8,
alpha 16, no dropout, the seven projections of the language model), the projector trainable, two
AdamW learning rates; measures the training step, the balanced-EMA update written line by line in
Python (METHOD.md section 2.8), greedy generation with the KV cache, and peak memory. Writes
target/bench/pytorch.json and, when target/bench/lcia.json exists, a comparison table.

Usage: python3 bench/pytorch_reference.py [STEPS BATCH THREADS]
It creates bench/.venv and installs pinned torch, transformers and peft into it with pip on the
first run.
"""
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "bench", ".venv")
PINS = ["torch==2.9.1", "transformers==4.57.6", "peft==0.17.1"]
TEXT_TOKENS = 42
NEW_TOKENS = 32


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if sys.prefix != VENV:
        if not os.path.exists(python):
            subprocess.check_call([sys.executable, "-m", "venv", VENV])
            subprocess.check_call([python, "-m", "pip", "install", "--quiet", *PINS])
        os.execv(python, [python, *sys.argv])


def batch_ids(torch, batch, image_tokens, image_id):
    rows = []
    for b in range(batch):
        row = [1] + [image_id] * image_tokens + [3 + (i * 7 + b) % 900 for i in range(TEXT_TOKENS - 1)]
        rows.append(row)
    return torch.tensor(rows)


def dema_update(state, params, C=2.0, fallback=0.01):
    """The balanced EMA after one optimizer step, one tensor at a time (METHOD.md 2.8)."""
    import torch
    with torch.no_grad():
        for name, p in params:
            s = state.setdefault(name, {"ema": p.detach().float().clone(), "gprev": None})
            g = p.grad
            if s["gprev"] is None or g is None:
                alpha = fallback
            else:
                a = (p.detach().float() - s["ema"]).abs().sum().item()
                b = g.float().abs().sum().item()
                c = (g.float() - s["gprev"]).abs().sum().item()
                try:
                    alpha = C * (1 + b) / (a * c)
                except ZeroDivisionError:
                    alpha = fallback
                if not (0 < alpha < 1):
                    alpha = fallback
            s["ema"].mul_(1 - alpha).add_(p.detach().float(), alpha=alpha)
            s["gprev"] = None if g is None else g.detach().float().clone()


def lora_llava(config, r):
    """The LLaVA of `config` with random weights, frozen, LoRA r / alpha 2r (no dropout) on the
    language model's seven projections and the projector trainable; AdamW at 2e-4 (adapters)
    and 2e-5 (projector). Returns (model, trainable named parameters, optimizer)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration(config).float()
    model.requires_grad_(False)
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
    return model, trainable, optim


def time_training(model, trainable, optim, ids, pixels, labels, steps, warmup):
    """Mean seconds of the training step (forward, backward, AdamW) and of the balanced-EMA
    update over `steps` steps after `warmup` untimed ones."""
    state, step_s, dema_s = {}, [], []
    model.train()
    for i in range(steps + warmup):
        start = time.perf_counter()
        out = model(input_ids=ids, pixel_values=pixels, labels=labels)
        out.loss.backward()
        optim.step()
        stepped = time.perf_counter()
        dema_update(state, trainable)
        optim.zero_grad(set_to_none=False)
        if i >= warmup:
            step_s.append(stepped - start)
            dema_s.append(time.perf_counter() - stepped)
    return sum(step_s) / len(step_s), sum(dema_s) / len(dema_s)


def main():
    ensure_venv()
    import torch
    from transformers import LlavaConfig

    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    if len(sys.argv) > 3:
        torch.set_num_threads(int(sys.argv[3]))
    torch.manual_seed(1)
    with open(os.path.join(ROOT, "assets", "demo", "config.json")) as f:
        config = LlavaConfig(**json.load(f))
    model, trainable, optim = lora_llava(config, 8)
    vc = config.vision_config
    image_tokens = (vc.image_size // vc.patch_size) ** 2
    length = image_tokens + TEXT_TOKENS
    ids = batch_ids(torch, batch, image_tokens, config.image_token_index)
    pixels = torch.randn(batch, 3, vc.image_size, vc.image_size)
    step, dema = time_training(model, trainable, optim, ids, pixels, ids, steps, 3)

    model.eval()
    prompt = batch_ids(torch, 1, image_tokens, config.image_token_index)
    one = torch.randn(1, 3, vc.image_size, vc.image_size)
    gen = dict(do_sample=False, use_cache=True, eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        model.generate(input_ids=prompt, pixel_values=one, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **gen)
        start = time.perf_counter()
        model.generate(input_ids=prompt, pixel_values=one, max_new_tokens=1, **gen)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        model.generate(input_ids=prompt, pixel_values=one, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **gen)
        decode = max(time.perf_counter() - start - prefill, 1e-9)
    rows = {
        "training step (fwd + bwd + AdamW), ms": step * 1e3,
        "training tokens/s": batch * length / step,
        "DEMA update, ms": dema * 1e3,
        "DEMA update / training step, %": 100 * dema / step,
        "generation prefill, ms": prefill * 1e3,
        "generation decode tokens/s": (NEW_TOKENS - 1) / decode,
        "peak resident memory, MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print(f"PyTorch {torch.__version__} eager (f32, {torch.get_num_threads()} threads) — demo LLaVA, "
          f"batch {batch} x {length} tokens, LoRA r 8 on 7 projections, {steps} steps")
    for k, v in rows.items():
        print(f"  {k:<42} {v:>10.2f}")
    os.makedirs(os.path.join(ROOT, "target", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target", "bench", "pytorch.json"), "w") as f:
        json.dump(rows, f, indent=1)
    ours_path = os.path.join(ROOT, "target", "bench", "lcia.json")
    if os.path.exists(ours_path):
        with open(ours_path) as f:
            ours = json.load(f)
        print("\n| measure | lcia (Burn ndarray) | PyTorch eager | lcia / PyTorch |\n|---|---:|---:|---:|")
        for k, v in rows.items():
            if k in ours:
                print(f"| {k} | {ours[k]:.2f} | {v:.2f} | {ours[k] / v:.2f} |")


if __name__ == "__main__":
    main()
