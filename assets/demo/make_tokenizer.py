"""Makes assets/demo/tokenizer.json, the demo's tokenizer: Llama-2 style like
assets/tiny-tokenizer (BPE with byte fallback, '▁' word prefix, <unk>=0, <s>=1, </s>=2, byte
tokens at 3..258, <image>=999, 1000 ids) but with merges kept inside words, as SentencePiece does,
so "ASSISTANT:" ends in the same token whether an answer follows or not. Trained on the demo's
vocabulary (the vicuna_v1 system prompt, questions, instructions, captions and answers).

Usage: python make_tokenizer.py   (needs `pip install tokenizers==0.23.*`)
"""
import json
import os

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = """
A chat between a curious user and an artificial intelligence assistant. The assistant gives
helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:
Describe the image briefly. What colour is the shape? Where is the shape? What shape is in the image?
How many shapes are there? Is the shape big or small? Answer the question using a single word or phrase.
Answer with left, right, top or bottom. Reply with a number.
red green blue yellow purple circle square triangle cross circles squares triangles crosses
big small left right top bottom one two three 1 2 3 a on the
"""
CORPUS = WORDS * 50


def main():
    n_bytes = 256
    trainer = trainers.BpeTrainer(vocab_size=999 - n_bytes, special_tokens=["<unk>", "<s>", "</s>"],
                                  show_progress=False)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    tok.train_from_iterator([CORPUS], trainer)

    spec = json.loads(tok.to_str())
    trained = spec["model"]["vocab"]
    vocab = {}
    for token, idx in sorted(trained.items(), key=lambda kv: kv[1]):
        vocab[token] = idx if idx < 3 else idx + n_bytes
    for b in range(n_bytes):
        vocab[f"<0x{b:02X}>"] = 3 + b
    for i in range(len(vocab), 999):
        vocab[f"<unused_{i}>"] = i
    assert len(vocab) == 999 and max(vocab.values()) == 998, (len(vocab), max(vocab.values()))
    spec["model"]["vocab"] = vocab
    spec["added_tokens"] = [
        {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, c in [(0, "<unk>"), (1, "<s>"), (2, "</s>")]
    ]
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.add_special_tokens(["<image>"])
    assert tok.token_to_id("<image>") == 999
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    tok.save(os.path.join(HERE, "tokenizer.json"))
    a = tok.encode("USER: hi ASSISTANT: purple").ids
    b = tok.encode("USER: hi ASSISTANT:").ids
    assert a[: len(b)] == b, (a, b)
    print("vocab", tok.get_vocab_size(), a, b)


if __name__ == "__main__":
    main()
