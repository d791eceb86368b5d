"""Makes assets/golden/tfidf_pairs.json and assets/stop_words_english.txt.

For each pair of strings: scikit-learn's TfidfVectorizer(stop_words='english') fitted on just
the two strings, and the cosine similarity of the two rows — the similarity LCIA's instruction
grouping uses (METHOD.md 3.2). A pair whose vocabulary is empty after stop-word removal makes
scikit-learn raise; it is recorded with "error": true.

Usage: python make_tfidf_golden.py   (made with scikit-learn 1.9.1)
"""
import json
import os

import sklearn
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
SQA = "Answer with the option's letter from the given choices directly."
VQA = "Answer the question using a single word or phrase."
VIZ = "When the provided information is insufficient, respond with 'Unanswerable'. " + VQA
IMG = "What is the object in the image?"
GRD = "Please provide the bounding box coordinate of the region this sentence describes"
PAIRS = [
    (SQA, VQA), (VIZ, VQA), (IMG, VQA), (IMG, GRD), (GRD, VQA), (SQA, SQA), (VIZ, SQA),
    (IMG, SQA), (VIZ, GRD), (VQA, VQA + " Answer!"),
    ("What color is the bus?", "What colour is the bus??"),
    ("There are 3 dogs and 12 cats.", "3 dogs, 12 cats, 100 birds"),
    ("The answer is 42.", "42 is the answer; 4 and 2 are not."),
    ("e-mail me at foo_bar@example.com", "foo_bar example com e mail"),
    ("It's the model's turn", "model turn its"),
    ("and the of to in", "the a an is"),  # stop words only on both sides: sklearn raises
    ("and the of to in", "Red bus"),       # one side empty after stop words
    ("", "Answer the question."),
    ("", ""),
    ("a b c d", "x y z"),                   # single characters are not tokens
    ("Café naïve résumé", "cafe naive resume"),
    ("Ünïcödé wörds ÄND stuff", "ünïcödé WÖRDS and stuff"),
    ("bus bus bus red", "red red bus"),
    ("CamelCase snake_case kebab-case", "camelcase snake case kebab case"),
    ("Line one\nline two\tTabbed", "line ONE two tabbed tabbed"),
    ("1st 2nd 3rd 10th", "1st place 10th place"),
]


def similarity(a, b):
    vec = TfidfVectorizer(stop_words="english")
    try:
        m = vec.fit_transform([a, b])
    except ValueError:
        return None
    return float(cosine_similarity(m[0], m[1])[0, 0])


def main():
    out = []
    for a, b in PAIRS:
        s = similarity(a, b)
        out.append({"a": a, "b": b, "similarity": 0.0 if s is None else s, "error": s is None})
    with open(os.path.join(HERE, "tfidf_pairs.json"), "w") as f:
        json.dump({"sklearn": sklearn.__version__, "pairs": out}, f, indent=1, ensure_ascii=False)
    words = sorted(ENGLISH_STOP_WORDS)
    with open(os.path.join(HERE, "..", "stop_words_english.txt"), "w") as f:
        f.write("\n".join(words) + "\n")
    print(len(out), "pairs;", len(words), "stop words;",
          [round(p["similarity"], 3) for p in out[:4]])


if __name__ == "__main__":
    main()
