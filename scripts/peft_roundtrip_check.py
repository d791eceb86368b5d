"""Opens lcia's exports with transformers and PEFT and compares logits with PEFT's own
(scripts/peft-roundtrip.sh makes the directories): `peft_roundtrip_check.py OUT GOLDEN`.
Exits non-zero on any mismatch."""

import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import LlamaForCausalLM, LlavaForConditionalGeneration

work, golden = sys.argv[1], sys.argv[2]
ref = load_file(f"{golden}/reference.safetensors")
ids, pixels = ref["llava_ids"], ref["pixel_values"]
failures = []


def check(name, got, want, base, tol=1e-4):
    err = (got - want).abs().max().item()
    # the adapter must matter: the adapted model's logits are far from the base model's, so a
    # file that loads nothing fails
    moved = (got - base).abs().max().item()
    print(f"{name:<62} max |diff| {err:.2e} (vs base model {moved:.2f})")
    if not err < tol or not moved > 0.1:
        failures.append(name)


def llava(path):
    model, info = LlavaForConditionalGeneration.from_pretrained(path, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        print(f"{path}: loading info {bad}")
        failures.append(f"{path} keys")
    return model.eval()


with torch.no_grad():
    merged = llava(f"{work}/merged")
    check("export (merged) -> from_pretrained", merged(input_ids=ids, pixel_values=pixels).logits,
          ref["logits_merged"], ref["logits_base"])

    peft = PeftModel.from_pretrained(llava(f"{work}/hf"), f"{work}/hf/adapter").eval()
    check("export --unmerged (llava-hf naming) -> PeftModel",
          peft(input_ids=ids, pixel_values=pixels).logits, ref["logits_adapter"], ref["logits_base"])

    base = llava(f"{work}/llava")
    llama = LlamaForCausalLM(base.config.text_config).eval()
    state = {k.replace("model.language_model.", "model."): v for k, v in base.state_dict().items()
             if k.startswith("model.language_model.")}
    state["lm_head.weight"] = base.state_dict()["lm_head.weight"]
    llama.load_state_dict(state, strict=True)
    text_base = llama(input_ids=ref["text_ids"]).logits
    wrapped = PeftModel.from_pretrained(llama, f"{work}/llava/adapter").eval()
    check("export --unmerged --adapter-naming llava -> PeftModel(Llama)",
          wrapped(input_ids=ref["text_ids"]).logits, ref["logits_text"], text_base)

if failures:
    print("FAILED:", ", ".join(failures))
    sys.exit(1)
print(f"{work}: all directions agree")
