#!/usr/bin/env bash
# The round trip between lcia and the real transformers 4.57.6 + PEFT 0.17.1 on the tiny
# hub-layout LLaVA, in every direction:
#   PEFT -> lcia:   fresh PEFT adapters (both namings, rsLoRA, rank/alpha patterns, projector as
#                   a module to save) and their logits, checked by lcia's golden tests;
#   lcia -> PEFT:   `lcia export --unmerged` (base + adapter, each naming) loaded by PEFT;
#   export -> transformers: `lcia export` (merged) opened by from_pretrained with every key used.
# Needs bench/.venv (python3 bench/pytorch_reference.py makes it) or PYTHON pointing at a python
# with torch, transformers and peft. Usage: scripts/peft-roundtrip.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-bench/.venv/bin/python}
fixtures=../shared/fixtures/tiny-hf/hub-layout
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== PEFT -> lcia (fresh PEFT files, lcia's golden tests)"
"$py" assets/golden/make_peft_golden.py "$fixtures" "$work/golden"
LCIA_PEFT_GOLDEN="$work/golden" cargo test --release --locked --test tests -- peft_files:: export::

echo "== lcia -> transformers / PEFT"
cargo build --release --locked --quiet
lcia=target/release/lcia
"$lcia" export --model "$fixtures/llava" --adapter "$work/golden/hf_rslora" --out "$work/merged"
"$lcia" export --model "$fixtures/llava" --adapter "$work/golden/llava_naming" --out "$work/hf" --unmerged
"$lcia" export --model "$fixtures/llava" --adapter "$work/golden/hf_rslora" --out "$work/llava" \
  --unmerged --adapter-naming llava
"$py" scripts/peft_roundtrip_check.py "$work"
