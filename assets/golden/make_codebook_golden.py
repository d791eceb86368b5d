"""Makes assets/golden/coin_codebook.json: the instruction-grouping decisions of LCIA's
LoRASelect logic (METHOD.md 3.1-3.3, re-implemented here with scikit-learn) for the 8 CoIN
tasks in order, with LLaVA-1.5's standard evaluation prompts as the instructions, at
tau = 0.90 and tau = 0.30. Each task's training file is two records whose first human turn is
"<image>\\n{question}\\n{prompt}" (ImageNet: "<image>\\nWhat is the object in the image?\\n{VQA prompt}";
Grounding: "<image>\\n{GROUNDING}: {expression}").

Usage: python make_codebook_golden.py   (made with scikit-learn 1.9.1)
"""
import json
import os

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

HERE = os.path.dirname(os.path.abspath(__file__))
SQA = "Answer with the option's letter from the given choices directly."
VQA = "Answer the question using a single word or phrase."
# LLaVA-1.5's VizWiz prompt: the two sentences on separate lines, so the last line (the
# instruction the extraction takes) is the plain VQA prompt.
VIZ = "When the provided information is insufficient, respond with 'Unanswerable'.\n" + VQA
IMG = "What is the object in the image?"
GRD = "Please provide the bounding box coordinate of the region this sentence describes"
TASKS = [
    ("ScienceQA", [f"<image>\nWhich state is farthest north?\nA. Ohio\nB. Maine\n{SQA}",
                   f"<image>\nWhat is the solvent?\nA. water\nB. salt\n{SQA}"]),
    ("TextVQA", [f"<image>\nWhat is written on the sign?\n{VQA}", f"<image>\nWhat brand is it?\n{VQA}"]),
    ("ImageNet", [f"<image>\n{IMG}\n{VQA}", f"<image>\n{IMG}\n{VQA}"]),
    ("GQA", [f"<image>\nIs the cup on the left?\n{VQA}", f"<image>\nWhat color is the car?\n{VQA}"]),
    ("VizWiz", [f"<image>\nWhat is this?\n{VIZ}", f"<image>\nWhat color is this shirt?\n{VIZ}"]),
    ("Grounding", [f"<image>\n{GRD}: the man on the left", f"<image>\n{GRD}: red car"]),
    ("VQAv2", [f"<image>\nHow many dogs are there?\n{VQA}", f"<image>\nIs it raining?\n{VQA}"]),
    ("OCRVQA", [f"<image>\nWho wrote this book?\n{VQA}", f"<image>\nIs this a novel?\n{VQA}"]),
]


def extract(task, value):
    lines = value.split("\n")
    if task == "Grounding":
        return lines[-1].split(":")[0].strip()
    if task == "ImageNet":
        return lines[1].strip()
    return lines[-1].strip()


def sim(a, b):
    try:
        m = TfidfVectorizer(stop_words="english").fit_transform([a, b])
    except ValueError:
        return 0.0
    return float(cosine_similarity(m[0], m[1])[0, 0])


def run(tau):
    groups, decisions = [], []
    for task, records in TASKS:
        current = []
        for r in records:  # unique, first-seen order
            ins = extract(task, r)
            if ins not in current:
                current.append(ins)
        if not groups:
            groups.append(list(current))
            decisions.append({"task": task, "decision": "expand", "group": 0, "max_similarity": None})
            continue
        sims = [sum(sim(c, h) for c in current for h in g) / (len(current) * len(g)) for g in groups]
        best = max(range(len(sims)), key=lambda k: (sims[k], -k))
        if sims[best] >= tau:
            groups[best] += [c for c in current if c not in groups[best]]
            decisions.append({"task": task, "decision": "retrain", "group": best, "max_similarity": sims[best]})
        else:
            groups.append(list(current))
            decisions.append({"task": task, "decision": "expand", "group": len(groups) - 1,
                              "max_similarity": sims[best]})
    return {"tau": tau, "decisions": decisions, "groups": groups}


def main():
    out = {"tasks": [{"task": t, "records": r} for t, r in TASKS], "runs": [run(0.90), run(0.30)]}
    with open(os.path.join(HERE, "coin_codebook.json"), "w") as f:
        json.dump(out, f, indent=1)
    for r in out["runs"]:
        print(r["tau"], [(d["task"], d["decision"], d["group"]) for d in r["decisions"]])


if __name__ == "__main__":
    main()
