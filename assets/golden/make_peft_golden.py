"""PEFT adapters for a tiny LLaVA fixture, saved by PEFT itself, with the logits they give.

Run from the repository root, for the transformers 4.x files with torch 2.9.1, transformers
4.57.6 and peft 0.17.1 (bench/.venv), for the 5.x files with transformers 5.24.0 and peft 0.21.2
(bench/.tf5, which scripts/peft-roundtrip.sh installs):

    bench/.venv/bin/python assets/golden/make_peft_golden.py ../shared/fixtures/tiny-hf/hub-layout
    PYTHONPATH=bench/.tf5 bench/.venv/bin/python assets/golden/make_peft_golden.py \
        ../shared/fixtures/tiny-hf/v5-layout

Writes assets/golden/peft/<hub-layout|v5-layout>/ (or the folder given as a second argument):
- hf_rslora/: `get_peft_model` on the whole LlavaForConditionalGeneration (llava-hf naming,
  `base_model.model.model.language_model.layers.N...`), target_modules a regex over the language
  model's seven projections, use_rslora, rank_pattern {q_proj: 4}, alpha_pattern {down_proj: 24},
  modules_to_save [multi_modal_projector] (perturbed), random B (init_lora_weights False);
- llava_naming/: the same tensors under the original LLaVA names (`base_model.model.model.layers.N`,
  projector in non_lora_trainables.safetensors as `mm_projector.{0,2}`); checked here to load into
  PEFT on a LlamaForCausalLM holding the llava's language model with no missing or unexpected key
  and to give the llava's text-only logits;
- clip_targets/: `get_peft_model` with target_modules [q_proj, v_proj] on the whole model, which
  also adapts the CLIP attention (lcia must refuse it, naming those modules);
- reference.safetensors: llava_ids, pixel_values, logits_base, logits_adapter (hf_rslora),
  logits_merged (merge_and_unload), text_ids, logits_text (text-only, with the adapter).
"""

import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration

fixture = sys.argv[1]
layout = os.path.basename(os.path.normpath(fixture))
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("assets/golden/peft", layout)
torch.manual_seed(0)
ref = load_file(os.path.join(fixture, "reference.safetensors"))
ids, pixels = ref["llava_ids"], ref["pixel_values"]
text_ids = torch.tensor([[1, 17, 42, 99, 5, 250, 7]])


def base():
    return LlavaForConditionalGeneration.from_pretrained(os.path.join(fixture, "llava")).eval()


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


with torch.no_grad():
    logits_base = base()(input_ids=ids, pixel_values=pixels).logits

# 1. llava-hf naming, rsLoRA, patterns, projector as modules_to_save.
targets = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
config = LoraConfig(
    r=8,
    lora_alpha=16,
    target_modules=targets,
    use_rslora=True,
    rank_pattern={"q_proj": 4},
    alpha_pattern={"down_proj": 24},
    modules_to_save=["multi_modal_projector"],
    init_lora_weights=False,
    lora_dropout=0.0,
    task_type="CAUSAL_LM",
)
model = get_peft_model(base(), config).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if "lora_B" in name:
            p.mul_(0.5)  # PEFT's random B is large for a tiny model
        if "modules_to_save.default" in name:
            p.add_(0.02 * torch.randn_like(p))
    logits_adapter = model(input_ids=ids, pixel_values=pixels).logits
    logits_text = model(input_ids=text_ids).logits
hf_dir = fresh(os.path.join(out, "hf_rslora"))
model.save_pretrained(hf_dir)
with torch.no_grad():
    merged = model.merge_and_unload()
    logits_merged = merged(input_ids=ids, pixel_values=pixels).logits

# reload through PEFT: every key used
again = PeftModel.from_pretrained(base(), hf_dir).eval()
with torch.no_grad():
    assert torch.allclose(again(input_ids=ids, pixel_values=pixels).logits, logits_adapter, atol=1e-6)

# 2. the same adapter under the original LLaVA / Llama names.
saved = load_file(os.path.join(hf_dir, "adapter_model.safetensors"))
lora, projector = {}, {}
for key, value in saved.items():
    if ".multi_modal_projector." in key:
        layer = {"linear_1": "0", "linear_2": "2"}[key.split(".")[-2]]
        projector[f"base_model.model.model.mm_projector.{layer}.{key.split('.')[-1]}"] = value
    else:
        lora[key.replace("model.language_model.layers.", "model.layers.")] = value
llava_dir = fresh(os.path.join(out, "llava_naming"))
save_file(lora, os.path.join(llava_dir, "adapter_model.safetensors"), metadata={"format": "pt"})
save_file(projector, os.path.join(llava_dir, "non_lora_trainables.safetensors"), metadata={"format": "pt"})
llava_config = json.load(open(os.path.join(hf_dir, "adapter_config.json")))
llava_config["target_modules"] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
llava_config["modules_to_save"] = None
json.dump(llava_config, open(os.path.join(llava_dir, "adapter_config.json"), "w"), indent=2)

llava = base()
llama = LlamaForCausalLM(llava.config.text_config).eval()
state = {k.replace("model.language_model.", "model."): v for k, v in llava.state_dict().items()
         if k.startswith("model.language_model.")}
state["lm_head.weight"] = llava.state_dict()["lm_head.weight"]
llama.load_state_dict(state, strict=True)
wrapped = PeftModel.from_pretrained(llama, llava_dir).eval()
loaded = {k for k, _ in wrapped.named_parameters() if "lora_" in k}
assert len(loaded) == len(lora), (len(loaded), len(lora))
with torch.no_grad():
    diff = (wrapped(input_ids=text_ids).logits - logits_text).abs().max().item()
assert diff < 1e-5, diff

# 3. default-style targets on the whole model: CLIP attention adapted too.
clip = get_peft_model(base(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
clip_dir = fresh(os.path.join(out, "clip_targets"))
clip.save_pretrained(clip_dir)
for d in (hf_dir, clip_dir):
    os.remove(os.path.join(d, "README.md"))

save_file(
    {
        "llava_ids": ids.contiguous(),
        "pixel_values": pixels.contiguous(),
        "logits_base": logits_base.contiguous(),
        "logits_adapter": logits_adapter.contiguous(),
        "logits_merged": logits_merged.contiguous(),
        "text_ids": text_ids.contiguous(),
        "logits_text": logits_text.contiguous(),
    },
    os.path.join(out, "reference.safetensors"),
)
print(f"wrote {out}: adapter vs base max |diff| {(logits_adapter - logits_base).abs().max():.3f}, "
      f"merged vs adapter {(logits_merged - logits_adapter).abs().max():.2e}, llama naming text diff {diff:.2e}")
