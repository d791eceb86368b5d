#!/usr/bin/env bash
# Data-parallel speed on the CPU: one replica (1 and 2 CPU threads) against two
# replicas (`--devices cpu,cpu`, 1 thread each), 8 LoRA steps of batch 8 on the easy-VQA base
# (SmolLM2-135M + ViT; run `lcia easy-vqa` first). Prints training tokens/s per layout.
# Usage: scripts/data-parallel-bench.sh [EASY_VQA_DIR (runs/easy-vqa)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
study=$(cd "${1:-$root/runs/easy-vqa}" && pwd)
[ -f "$study/base/model.safetensors" ] || { echo "no easy-VQA base under $study (run lcia easy-vqa)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
work=$(mktemp -d)
cat > "$work/run.toml" <<TOML
[model]
dir = "$study/base"
template = { chat_ml = { system = "" } }
[lora]
r = 8
alpha = 16.0
dropout = 0.0
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
[train]
batch_size = 8
max_steps = 8
lr_lora = 0.001
lr_projector = 0.0001
max_len = 128
progress = false
[method]
grouping = false
ema = "off"
[eval]
max_samples = 4
max_new_tokens = 4
[data]
image_root = "$root/assets/cache/easy_vqa/data"
[[tasks]]
name = "colour"
train = "$study/data/colour/train.json"
test = "$study/data/colour/test.json"
scorer = "exact"
max_new_tokens = 4
pad_images = true
TOML
for layout in "cpu:1" "cpu:2" "cpu,cpu:1"; do
  IFS=: read -r devices threads <<< "$layout"
  out="$work/out-${devices//,/-}-t$threads"
  "$root/target/release/lcia" --threads "$threads" run --config "$work/run.toml" --out "$out" \
    --devices "$devices" > "$out.log" 2>&1
  python3 - "$out/manifest.json" "$devices" "$threads" <<'PY'
import json, sys
task = json.load(open(sys.argv[1]))["finished"][0]
print(f"--devices {sys.argv[2]:8} --threads {sys.argv[3]}: {task['tokens_per_second']:.1f} training tokens/s, "
      f"task {task['seconds']:.1f} s, final loss {task['final_loss']:.7f}")
PY
done
rm -rf "$work"
