#!/usr/bin/env bash
# GPU check, sized for one device call of under 10 minutes on an NVIDIA machine:
# builds with CUDA (and WGPU when time allows), runs the cross-backend parity test against
# ndarray, and the LLaVA-1.5-7B LoRA step benchmark, sampling GPU memory with nvidia-smi.
# Results go to ${OUT:-target/gpu-check}/gpu-check.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-target/gpu-check}"
mkdir -p "$OUT"
LOG="$OUT/gpu-check.txt"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }
export CARGO_TERM_COLOR=never

say "== machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee -a "$LOG"
say "== build (cuda)"
start=$(date +%s)
cargo build --release --locked --features cuda --example step_bench 2>&1 | tail -3 | tee -a "$LOG"
say "build: $(( $(date +%s) - start )) s"

say "== parity: cuda vs ndarray (tiny LLaVA forward, backward, AdamW + DEMA, LoRA save/load)"
LCIA_PARITY_DEVICE=cuda timeout 240 cargo test --release --locked -p lcia-backends --features cuda \
  --test parity -- --nocapture 2>&1 | grep -E "vs ndarray|vs f32|test result|panicked|error" | tee -a "$LOG"

bench() {
  say "== step benchmark: $*"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$OUT/mem.csv" 2>/dev/null &
  smi=$!
  timeout 180 ./target/release/examples/step_bench --device cuda "$@" 2>&1 | tail -6 | tee -a "$LOG"
  kill "$smi" 2>/dev/null
  say "peak GPU memory: $(sort -n "$OUT/mem.csv" | tail -1) MiB"
}
bench --batch 1 --text 512 --steps 3 --lora-r 128
bench --batch 4 --text 512 --steps 3 --lora-r 128
bench --batch 1 --text 1024 --steps 3 --lora-r 128 --precision bf16
bench --batch 1 --text 1024 --steps 3 --lora-r 128 --precision bf16 --checkpointing balanced

if [ "${WGPU:-1}" = 1 ]; then
  say "== wgpu build and parity"
  LCIA_PARITY_DEVICE=wgpu timeout 200 cargo test --release --locked -p lcia-backends --features wgpu \
    --test parity -- --nocapture 2>&1 | grep -E "vs ndarray|vs f32|test result|panicked|error" | tee -a "$LOG"
fi
say "== done (TFLOP/s above are f32 runs; MFU is quoted against the H200 bf16 peak of ~790 TFLOP/s)"
