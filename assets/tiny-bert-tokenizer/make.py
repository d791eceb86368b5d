"""Makes assets/tiny-bert-tokenizer/tokenizer.json: a BERT WordPiece tokenizer (uncased,
[PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, [CLS] ... [SEP] post-processor, the layout of
all-MiniLM-L6-v2's tokenizer) with a 200-id vocabulary trained on the instruction prompts below,
for tests of the sentence encoder on a tiny random BERT.

Usage: python make.py   (pip install tokenizers==0.23.*)
"""
import os

from tokenizers import BertWordPieceTokenizer
from tokenizers.processors import BertProcessing

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = [
    "Answer with the option's letter from the given choices directly.",
    "Answer the question using a single word or phrase.",
    "When the provided information is insufficient, respond with 'Unanswerable'.",
    "What is the object in the image?",
    "Please provide the bounding box coordinate of the region this sentence describes.",
    "Translate the caption into French. Describe the picture in detail.",
] * 10

tok = BertWordPieceTokenizer(lowercase=True)
tok.train_from_iterator(TEXT, vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                        show_progress=False)
tok._tokenizer.post_processor = BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                              ("[CLS]", tok.token_to_id("[CLS]")))
tok.save(os.path.join(HERE, "tokenizer.json"))
print(tok.get_vocab_size(), tok.encode("Answer the question.").ids)
