#!/usr/bin/env python3
"""Reference encodings from Hugging Face `tokenizers` for the tokenizer tests.

usage: tokenizer_refs.py TOKENIZERS_DIR CORPUS_JSON OUT_DIR
For every TOKENIZERS_DIR/NAME/tokenizer.json writes OUT_DIR/NAME.json: for each corpus text the ids
with and without special tokens, and the decoding of the special-token ids with and without
skipping special tokens.
"""
import json
import os
import sys

import tokenizers

tok_dir, corpus_path, out_dir = sys.argv[1:4]
corpus = json.load(open(corpus_path, encoding="utf-8"))
os.makedirs(out_dir, exist_ok=True)
for name in sorted(os.listdir(tok_dir)):
    path = os.path.join(tok_dir, name, "tokenizer.json")
    if not os.path.exists(path):
        continue
    tok = tokenizers.Tokenizer.from_file(path)
    cases = []
    for text in corpus:
        plain = tok.encode(text, add_special_tokens=False)
        special = tok.encode(text, add_special_tokens=True)
        cases.append({
            "text": text,
            "ids": plain.ids,
            "tokens": plain.tokens,
            "ids_with_special": special.ids,
            "decoded": tok.decode(special.ids, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(special.ids, skip_special_tokens=True),
        })
    json.dump({"tokenizers_version": tokenizers.__version__, "cases": cases},
              open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8"), ensure_ascii=False)
    print(name, len(cases), "cases")
