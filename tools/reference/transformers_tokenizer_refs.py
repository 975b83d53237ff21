#!/usr/bin/env python3
"""Reference encodings from transformers' AutoTokenizer, which may rebuild a tokenizer's pipeline
from its class (LlamaTokenizer, GemmaTokenizer, GPT2Tokenizer, ...) and tokenizer_config.json
instead of using tokenizer.json as stored.

usage: transformers_tokenizer_refs.py VARIANTS_DIR CORPUS_JSON OUT_DIR
Each VARIANTS_DIR/NAME/ holds a tokenizer.json and a tokenizer_config.json. Writes OUT_DIR/NAME.json:
the tokenizer_config.json used, the class transformers picked, the pipeline it built (tokenizer.json
without the vocabulary) and, for each corpus text, the ids with and without special tokens, the
tokens and the decodings with and without skipping special tokens.
"""
import json
import os
import sys

import transformers
from transformers import AutoTokenizer

var_dir, corpus_path, out_dir = sys.argv[1:4]
corpus = json.load(open(corpus_path, encoding="utf-8"))
corpus += ["   leading spaces", "trailing spaces   ", " ", "", "\n\nnew lines first", "<s> special </s> in text",
           "    def f(x):\n        return x\n"]
os.makedirs(out_dir, exist_ok=True)
for name in sorted(os.listdir(var_dir)):
    folder = os.path.join(var_dir, name)
    try:
        tok = AutoTokenizer.from_pretrained(folder)
        pipeline = json.loads(tok.backend_tokenizer.to_str())
        model = pipeline.get("model", {})
        for key in ("vocab", "merges"):
            model.pop(key, None)
        pipeline["added_tokens"] = [t for t in pipeline.get("added_tokens", []) if t.get("special") or t["id"] < 300]
        cases = []
        for text in corpus:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            special = tok(text, add_special_tokens=True)["input_ids"]
            cases.append({"text": text, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids),
                          "ids_with_special": special,
                          "decoded": tok.decode(special, skip_special_tokens=False),
                          "decoded_skip_special": tok.decode(special, skip_special_tokens=True)})
        json.dump({"transformers_version": transformers.__version__, "class": type(tok).__name__,
                   "tokenizer_config": json.load(open(os.path.join(folder, "tokenizer_config.json"))),
                   "pipeline": pipeline, "cases": cases},
                  open(os.path.join(out_dir, name + ".json"), "w", encoding="utf-8"), ensure_ascii=False, indent=0)
        print(name, type(tok).__name__, len(cases), "cases")
    except Exception:
        import traceback
        traceback.print_exc()
        print(name, "FAILED")
