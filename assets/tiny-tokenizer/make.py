"""Makes assets/tiny-tokenizer/tokenizer.json: a Llama-2-style tokenizer (BPE with byte fallback,
'▁' word prefix, <unk>=0, <s>=1, </s>=2, byte tokens <0x00>..<0xFF> at 3..258, BOS added by the
post-processor) with 1000 ids (unused fillers where the small corpus
runs out of merges), the last one (999) being <image>, so its ids fit the tiny llama and
llava checkpoints in shared/fixtures (vocab 1000, image_token_index 999). Trained on the text below.
Also writes golden.json: how the Python `tokenizers` library encodes a few strings with it.

Usage: python make.py   (needs `pip install tokenizers==0.23.*`)
"""
import json
import os

from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = """
A chat between a curious user and an artificial intelligence assistant. The assistant gives
helpful, detailed, and polite answers to the user's questions. USER: ASSISTANT:
Answer with the option's letter from the given choices directly.
Answer the question using a single word or phrase.
What is the object in the image?
When the provided information is insufficient, respond with 'Unanswerable'.
Please provide the bounding box coordinate of the region this sentence describes: the man on the left.
What color is the bus? Red. How many people are in the picture? Two. Is the cat sleeping? Yes.
What is written on the sign? Stop. Who wrote this book? Mark Twain. What is the title of this book?
The quick brown fox jumps over the lazy dog. Science question: which of these states is farthest north?
Options: A. Texas B. Maine C. Ohio D. Utah. The answer is B. A photo of a dog, a cat, a bird, a car.
There are 3 shapes: a red circle, a blue square and a green triangle in the image.
""" * 20

def main():
    n_bytes = 256
    trainer = trainers.BpeTrainer(vocab_size=999 - n_bytes, special_tokens=["<unk>", "<s>", "</s>"],
                                  show_progress=False)
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.train_from_iterator([CORPUS], trainer)

    spec = json.loads(tok.to_str())
    trained = spec["model"]["vocab"]
    vocab = {}
    for token, idx in sorted(trained.items(), key=lambda kv: kv[1]):
        vocab[token] = idx if idx < 3 else idx + n_bytes
    for b in range(n_bytes):
        vocab[f"<0x{b:02X}>"] = 3 + b
    # the corpus runs out of merges before 999 ids: fill the rest with never-produced tokens
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

    samples = ["What color is the bus?", "Answer the question using a single word or phrase.",
               "\nWhat is the object in the image?", "café ☕ 42", "", "A chat between USER: <image>\nHi"]
    golden = [{"text": s, "ids": tok.encode(s).ids, "decoded": tok.decode(tok.encode(s).ids)}
              for s in samples]
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1, ensure_ascii=False)
    print("vocab", tok.get_vocab_size(), [g["ids"] for g in golden[:2]])

if __name__ == "__main__":
    main()
