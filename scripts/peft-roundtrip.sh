#!/usr/bin/env bash
# The round trip between lcia and the real transformers + PEFT on both tiny LLaVA fixtures
# (hub-layout: transformers 4.57.6 + PEFT 0.17.1 from bench/.venv; v5-layout: transformers
# 5.24.0 + PEFT 0.21.2, installed into bench/.tf5 on first use), in every direction:
#   PEFT -> lcia:   fresh PEFT adapters (both namings, rsLoRA, rank/alpha patterns, projector as
#                   a module to save) and their logits, checked by lcia's golden tests;
#   lcia -> PEFT:   `lcia export --unmerged` (base + adapter, each naming) loaded by PEFT;
#   export -> transformers: `lcia export` (merged) opened by from_pretrained, every key used.
# bench/.venv comes from `python3 bench/pytorch_reference.py`. Usage: scripts/peft-roundtrip.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=bench/.venv/bin/python
fixtures=../shared/fixtures/tiny-hf
if [ ! -x "$venv" ]; then
  echo "error: $venv is missing: run python3 bench/pytorch_reference.py first" >&2
  exit 1
fi
if [ ! -d bench/.tf5/peft ]; then
  echo "== installing transformers 5.24.0 + peft 0.21.2 into bench/.tf5"
  bench/.venv/bin/pip install --quiet --target bench/.tf5 "transformers==5.24.0"
  bench/.venv/bin/pip install --quiet --target bench/.tf5 --no-deps "peft==0.21.2"
fi
python_for() { # layout -> command
  if [ "$1" = v5-layout ]; then echo "env PYTHONPATH=bench/.tf5 $venv"; else echo "$venv"; fi
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== PEFT -> lcia (fresh PEFT files, lcia's golden tests)"
for layout in hub-layout v5-layout; do
  $(python_for $layout) assets/golden/make_peft_golden.py "$fixtures/$layout" "$work/golden/$layout" 2>&1 \
    | grep -v -i -e warn -e "loading weights"
done
LCIA_PEFT_GOLDEN="$work/golden" cargo test --release --locked --test tests -- peft_files:: export::

echo "== lcia -> transformers / PEFT"
cargo build --release --locked --quiet
lcia=target/release/lcia
for layout in hub-layout v5-layout; do
  version=4; [ $layout = v5-layout ] && version=5
  model="$fixtures/$layout/llava"
  golden="$work/golden/$layout"
  out="$work/out/$layout"
  "$lcia" export --model "$model" --adapter "$golden/hf_rslora" --out "$out/merged" --transformers $version
  "$lcia" export --model "$model" --adapter "$golden/llava_naming" --out "$out/hf" --unmerged \
    --transformers $version
  "$lcia" export --model "$model" --adapter "$golden/hf_rslora" --out "$out/llava" --unmerged \
    --adapter-naming llava --transformers $version
  $(python_for $layout) scripts/peft_roundtrip_check.py "$out" "$golden" 2>&1 \
    | grep -v -i -e warn -e "loading weights"
done
echo "round trip: both layouts, every direction"
