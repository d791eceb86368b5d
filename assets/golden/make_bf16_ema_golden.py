"""Makes assets/golden/dema_bf16_trace.json: the official balanced-EMA update (METHOD.md 2.6)
evaluated the way the official run evaluates it, with every trainable tensor, its gradient and
its EMA in torch.bfloat16, on a small hand-made trace of one 8-element tensor. The trace covers
the first step (copy, then the exception fallback), dynamic coefficients above and below 2^-9
(where the bf16 decay term rounds away), an unchanged gradient (a*c = 0, fallback), a step
without gradient (exception fallback, then no previous gradient), and alpha >= 1 (fallback).

Usage: python make_bf16_ema_golden.py   (made with torch 2.9.1, CPU)
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def official_update(state, theta, grad):
    """One update of the rule in METHOD.md 2.6 on bf16 tensors; returns (alpha, source)."""
    if "ema" not in state:
        state["ema"] = theta.clone()
    ema = state["ema"]
    try:
        a = torch.norm(theta - ema, p=1)
        b = torch.norm(grad, p=1)
        c = torch.norm(grad - state["prev"], p=1)
        alpha = float((1 + b) / (a * c) * 2)
        source = "dynamic" if 0 < alpha < 1 else "fallback"
        if source == "fallback":
            alpha = 0.01
        state["ema"] = ema * (1 - alpha) + theta * alpha
    except Exception:
        alpha, source = 0.01, "fallback"
        state["ema"] = ema * 0.99 + theta * 0.01
    state["prev"] = None if grad is None else grad.clone()
    return alpha, source


def main():
    gen = torch.Generator().manual_seed(11)
    base = torch.randn(8, generator=gen) * 3.0
    steps = []
    # (weight offset scale, gradient scale, gradient present, gradient repeated)
    plan = [
        (0.0, 1.0, True, False),     # first step: copy, then the exception fallback
        (40.0, 1.0, True, False),    # far drift, small gradient: small alpha
        (60.0, 50.0, True, False),
        (0.5, 2.0, True, False),
        (0.6, 2.0, True, True),      # gradient unchanged: a*c = 0 -> inf, fallback
        (300.0, 4.0, True, False),   # very far drift: alpha below 2^-9
        (8.0, 30.0, False, False),   # no gradient: exception fallback
        (9.0, 30.0, True, False),    # no previous gradient: exception fallback
        (10.0, 30.0, True, False),
        (2.0, 200.0, True, False),
        (1.0, 1e-3, True, False),
        (1.0, 1e-3, True, False),    # tiny gradient change: alpha >= 1, fallback
    ]
    state = {}
    prev_grad = None
    for offset, scale, present, repeat in plan:
        theta32 = base + offset * torch.randn(8, generator=gen).abs()
        grad32 = scale * torch.randn(8, generator=gen)
        if repeat and prev_grad is not None:
            grad32 = prev_grad
        prev_grad = grad32
        theta = theta32.to(torch.bfloat16)
        grad = grad32.to(torch.bfloat16) if present else None
        alpha, source = official_update(state, theta, grad)
        steps.append({
            "theta": [float(v) for v in theta32],
            "grad": [float(v) for v in grad32] if present else None,
            "alpha": alpha,
            "source": source,
            "ema": [float(v) for v in state["ema"].float()],
        })
    out = {
        "about": "official balanced EMA in bf16 (torch %s); inputs are float32, rounded to bf16 "
                 "by both sides" % torch.__version__,
        "steps": steps,
    }
    with open(os.path.join(HERE, "dema_bf16_trace.json"), "w") as f:
        json.dump(out, f, indent=1)
    for i, s in enumerate(steps):
        print(i + 1, s["source"], s["alpha"])


if __name__ == "__main__":
    main()
