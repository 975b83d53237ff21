#!/usr/bin/env python3
"""Small tokenizers exercising the components the real test tokenizers do not use, with reference
encodings and decodings from Hugging Face `tokenizers`.

usage: make_synthetic.py CORPUS_JSON OUT_JSON

Trains tiny BPE, WordPiece, Unigram and WordLevel models on the corpus (the "bases"), then derives
variants that swap normalizers, pre-tokenizers, decoders, post-processors, added-token options,
truncation and padding. Variants are stored as overrides of a base's top-level tokenizer.json keys
(and of its "model" fields), each with the expected results for every text.
"""
import copy
import json
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

corpus_path, out_path = sys.argv[1:3]
corpus = json.load(open(corpus_path, encoding="utf-8"))
extra = [
    "Hey   friend! <s>how are you</s> today?",
    " leading space <mask> and <mask>trailing [MASK]x [MASK] ",
    "digits 12345 and 3.14 and ١٢٣ and ５",
    "hello world HELLO World hello-world",
    "a\u00a0b\u2009c\u3000d\u0085e",
    "The café's naïve façade — “quoted” ‘text’…",
    "   ",
    "<unk> [UNK] <pad> | word|delimiter",
    "x" * 120,
    "日本語😀テキスト🇺🇸",
    "don't do not can't I'm you're it's we've",
    "ﬁnance ｆｕｌｌｗｉｄｔｈ Ⅻ ㋿ Å",
    "tab\tand\nnewline\r\nend",
    "ﬁ Ａ ① e\u0301 ABC 😀 👍🏽 \u00c5 ａ\u3000b",
]
# Every other corpus text keeps the file small; the real tokenizers see them all.
texts = corpus[::2] + extra
train_texts = corpus * 3 + extra * 2


def train(model, trainer, pre_tokenizer, normalizer=None):
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.train_from_iterator(train_texts, trainer)
    return json.loads(tok.to_str())


def with_byte_tokens(base):
    vocab = base["model"]["vocab"]
    next_id = max(vocab.values()) + 1
    for b in range(256):
        vocab.setdefault("<0x%02X>" % b, next_id)
        next_id = max(vocab.values()) + 1
    return base


bases = {
    "bpe_sp": with_byte_tokens(train(
        models.BPE(unk_token="<unk>", fuse_unk=True),
        trainers.BpeTrainer(vocab_size=300, show_progress=False, special_tokens=["<unk>", "<s>", "</s>"]),
        pre_tokenizers.Metaspace())),
    "bpe_suffix": train(
        models.BPE(unk_token="<unk>", continuing_subword_prefix="##", end_of_word_suffix="</w>"),
        trainers.BpeTrainer(vocab_size=300, show_progress=False, special_tokens=["<unk>", "<pad>", "|"],
                            continuing_subword_prefix="##", end_of_word_suffix="</w>"),
        pre_tokenizers.Whitespace()),
    "bpe_bytes": train(
        models.BPE(),
        trainers.BpeTrainer(vocab_size=400, show_progress=False, special_tokens=["<|endoftext|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
        pre_tokenizers.ByteLevel(add_prefix_space=False)),
    "wordpiece": train(
        models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=20),
        trainers.WordPieceTrainer(vocab_size=300, show_progress=False, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]),
        pre_tokenizers.BertPreTokenizer(), normalizers.BertNormalizer()),
    "unigram": train(
        models.Unigram(),
        trainers.UnigramTrainer(vocab_size=700, show_progress=False, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>"),
        pre_tokenizers.Metaspace()),
    "wordlevel": train(
        models.WordLevel(unk_token="<unk>"),
        trainers.WordLevelTrainer(vocab_size=200, show_progress=False, special_tokens=["<unk>", "<pad>"]),
        pre_tokenizers.Whitespace()),
}
bases["unigram_bytes"] = copy.deepcopy(bases["unigram"])
uvocab = bases["unigram_bytes"]["model"]["vocab"]
uvocab += [["<0x%02X>" % b, -20.0] for b in range(256)]
bases["unigram_bytes"]["model"]["byte_fallback"] = True


# A SentencePiece charsmap compiled by sentencepiece 0.2 from these user rules (source -> target,
# code points in hex): FB01 -> 66 69; FF21 -> 41; 2460 -> 31; 65 301 -> E9; 41 42 43 -> 78 79;
# 3000 -> 20; 2003 -> 20; FF41 -> 61; 1F600 -> 3A 29; C5 -> 41 30A; 1F44D 1F3FD -> 2B 31; 301 -> 0.
CUSTOM_CHARSMAP = (
    "AAQAAAAAAQBBAAEAFwAAgEIQAQBDGQAAzAgCAIEFAAAaAACAhQUAAA4AAICBBQAAAAAAgIAIAgCDDQAAAgAAgKB9AAAHAACA"
    "gAwCAIBxAAAUAACAgR0AAKENAAAMAACAgT0AABIAAICfoAIAjcQDAPBgAgCfMAIAkcgCAL39AACP8AIAkdwCAAQAAICAGQAA"
    "rNgCAAkAAIBlsAMAJwAAACYAAAApAAAAmCwCACsAAAAqAAAALQAAACwAAAAvAAAALgAAADEAAAAwAAAAvZACALwcAgA1AAAA"
    "NAAAADcAAAA2AAAAOQAAADgAAAA7AAAAOgAAAD0AAAA8AAAAPwAAAD4AAABBAAAAQAAAAEMAAABCAAAARQAAAEQAAABHAAAA"
    "RgAAAEkAAABIAAAASwAAAEoAAABNAAAATAAAAE8AAABOAAAAUQAAAFAAAABTAAAAUgAAAFUAAABUAAAAVwAAAFYAAABZAAAA"
    "WAAAAFsAAABaAAAAXQAAAFwAAABfAAAAXgAAAGEAAABgAAAAYwAAAGIAAABlAAAAZAAAAGcAAABmAAAAaQAAAGgAAABrAAAA"
    "agAAAG0AAABsAAAAbwAAAG4AAABxAAAAcAAAAHMAAAByAAAAdQAAAHQAAAB3AAAAdgAAAHkAAAB4AAAAewAAAHoAAAB9AAAA"
    "fAAAAH8AAAB+AAAAgQAAAIAAAACDAAAAwzgAAIUAAACEAAAAhwAAAIYAAACJAAAAiAAAAIsAAACKAAAAzBwAAIwAAACPAAAA"
    "jgAAAJEAAACQAAAAkwAAAJIAAACVAAAAlAAAAJcAAACWAAAAmQAAAJgAAACbAAAAmgAAAJ0AAACcAAAAnwAAAJ4AAAChAAAA"
    "oAAAAOK4AADjyAAApQAAAKQAAACnAAAApgAAAKkAAACoAAAAqwAAAKoAAACtAAAArAAAAK8AAADvgAAA8NgAALAAAACzAAAA"
    "sgAAALUAAAC0AAAAtwAAALYAAAC5AAAAuAAAALsAAAC6AAAAvQAAALwAAAC/AAAAvgAAAMEAAADAAAAAwwAAAMIAAADFAAAA"
    "xAAAAMcAAADGAAAAyQAAAMgAAADLAAAAygAAAM0AAADMAAAAzwAAAM4AAADRAAAA0AAAANMAAADSAAAA1QAAANQAAADXAAAA"
    "1gAAANkAAADYAAAA2wAAANoAAADdAAAA3AAAAN8AAADeAAAA4QAAAOAAAADjAAAA4gAAAOUAAADkAAAA5wAAAOYAAADpAAAA"
    "6AAAAOsAAADqAAAA7QAAAOwAAADvAAAA7gAAAPEAAADwAAAA8wAAAPIAAAD1AAAA9AAAAPcAAAD2AAAA+QAAAPgAAAD7AAAA"
    "+gAAAP0AAAD8AAAA/wAAAP4AAAAAACAAKzEAMQA6KQBBAEHMigBhAGZpAHh5AMOpAA==")


def ms(scheme, split=True):
    return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}


def tmpl(single, specials):
    return {"type": "TemplateProcessing", "single": single, "pair": single,
            "special_tokens": {k: {"id": k, "ids": v, "tokens": [k] * len(v)} for k, v in specials.items()}}


def st(name):
    return {"SpecialToken": {"id": name, "type_id": 0}}


SEQ_A = {"Sequence": {"id": "A", "type_id": 0}}
LLAMA_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def bpe_sp_ids(*names):
    return [bases["bpe_sp"]["model"]["vocab"][n] for n in names]


def added(base, content, **flags):
    t = {"id": None, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": False}
    t.update(flags)
    vocab = bases[base]["model"]["vocab"]
    ids = vocab.values() if isinstance(vocab, dict) else range(len(vocab))
    existing = [a["id"] for a in bases[base]["added_tokens"]]
    t["id"] = max(list(ids) + existing) + 1 + flags.pop("offset", 0)
    t.pop("offset", None)
    return t


def split(behavior, pattern, invert=False):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": pattern, "behavior": behavior, "invert": invert},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}


wp_added = copy.deepcopy(bases["wordpiece"]["added_tokens"])
for t in wp_added:
    if t["content"] == "[MASK]":
        t["lstrip"] = True
wp_added.append(added("wordpiece", "<mask>", lstrip=True, rstrip=True, special=True))
wp_added.append(added("wordpiece", "hello world", normalized=True, offset=1))
wp_added.append(added("wordpiece", "ony", single_word=True, offset=2))
wp_added.append(added("wordpiece", "Friend", normalized=True, single_word=True, offset=3))

variants = [
    ("bpe_metaspace_first", "bpe_sp", {
        "pre_tokenizer": ms("first", False), "decoder": ms("first", False),
        "post_processor": tmpl([st("<s>"), SEQ_A], {"<s>": bpe_sp_ids("<s>")})}),
    ("bpe_metaspace_always_split", "bpe_sp", {
        "pre_tokenizer": ms("always"), "decoder": LLAMA_DECODER, "model": {"byte_fallback": True}}),
    ("bpe_metaspace_never", "bpe_sp", {"pre_tokenizer": ms("never"), "decoder": ms("never")}),
    ("bpe_legacy_llama", "bpe_sp", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "decoder": LLAMA_DECODER, "model": {"byte_fallback": True},
        "post_processor": tmpl([st("<s>"), SEQ_A, st("</s>")], {"<s>": bpe_sp_ids("<s>"), "</s>": bpe_sp_ids("</s>")})}),
    ("bpe_unk_not_fused", "bpe_sp", {"pre_tokenizer": ms("always"), "decoder": ms("always"),
                                     "model": {"fuse_unk": False, "byte_fallback": False}}),
    ("bpe_ignore_merges", "bpe_sp", {"pre_tokenizer": ms("always"), "decoder": ms("always"),
                                     "model": {"ignore_merges": True, "byte_fallback": True}}),
    ("bpe_prefix_suffix_bpedecoder", "bpe_suffix", {"decoder": {"type": "BPEDecoder", "suffix": "</w>"}}),
    ("bpe_prefix_suffix_ctc", "bpe_suffix", {
        "decoder": {"type": "CTC", "pad_token": "<pad>", "word_delimiter_token": "|", "cleanup": True}}),
    ("bytelevel_split_isolated", "bpe_bytes", {"pre_tokenizer": split("Isolated", {"Regex": "\\d+"})}),
    ("bytelevel_split_removed", "bpe_bytes", {"pre_tokenizer": split("Removed", {"Regex": "\\s+"})}),
    ("bytelevel_split_prev", "bpe_bytes", {"pre_tokenizer": split("MergedWithPrevious", {"String": " "})}),
    ("bytelevel_split_next", "bpe_bytes", {"pre_tokenizer": split("MergedWithNext", {"Regex": "[,.!?]"})}),
    ("bytelevel_split_contiguous", "bpe_bytes", {"pre_tokenizer": split("Contiguous", {"Regex": "\\p{P}"})}),
    ("bytelevel_split_invert", "bpe_bytes", {"pre_tokenizer": split("Isolated", {"Regex": "\\p{L}+"}, True)}),
    ("bytelevel_roberta", "bpe_bytes", {
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 0], "cls": ["<|endoftext|>", 0],
                           "trim_offsets": True, "add_prefix_space": True},
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"},
                                                           {"type": "Replace", "pattern": {"Regex": "\\s+"},
                                                            "content": " "},
                                                           {"type": "Strip", "strip_left": True,
                                                            "strip_right": False}]}}),
    ("bytelevel_sequence_post", "bpe_bytes", {
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            tmpl([st("<bos>"), SEQ_A, st("<eos>")], {"<bos>": [0, 0], "<eos>": [0]})]},
        "truncation": {"direction": "Left", "max_length": 12, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": "BatchLongest", "direction": "Left", "pad_to_multiple_of": 8, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "<|endoftext|>"}}),
    ("wordpiece_added_tokens", "wordpiece", {"added_tokens": wp_added}),
    ("wordpiece_whitespace_nfkc", "wordpiece", {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Whitespace"},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}}),
    ("wordpiece_digits_punct", "wordpiece", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Lowercase"},
            {"type": "Strip", "strip_left": True, "strip_right": True}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Contiguous"},
            {"type": "Digits", "individual_digits": True}]},
        "truncation": {"direction": "Right", "max_length": 16, "strategy": "OnlyFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 24}, "direction": "Left", "pad_to_multiple_of": None, "pad_id": 0,
                    "pad_type_id": 0, "pad_token": "[PAD]"}}),
    ("wordpiece_chardelim_nmt", "wordpiece", {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Nmt"}, {"type": "NFKD"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "CharDelimiterSplit", "delimiter": " "}, {"type": "Digits", "individual_digits": False},
            {"type": "Punctuation", "behavior": "MergedWithPrevious"}]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True}}),
    ("bert_no_lowercase", "wordpiece", {
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False,
                       "strip_accents": True, "lowercase": False}}),
    ("unigram_metaspace", "unigram", {"decoder": ms("always")}),
    ("unigram_precompiled_t5", "unigram", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled", "precompiled_charsmap": CUSTOM_CHARSMAP},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, ms("always")]},
        "decoder": ms("always"),
        "post_processor": tmpl([SEQ_A, st("</s>")], {"</s>": [2]})}),
    ("unigram_byte_fallback", "unigram_bytes", {"decoder": LLAMA_DECODER, "pre_tokenizer": ms("first", False)}),
    ("wordlevel_whitespace", "wordlevel", {"normalizer": {"type": "Lowercase"}}),
]

out_variants = []
for name, base, override in variants:
    spec = copy.deepcopy(bases[base])
    for key, value in override.items():
        if key == "model":
            spec["model"].update(value)
        else:
            spec[key] = value
    tok = Tokenizer.from_str(json.dumps(spec))
    cases = []
    for text in texts:
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
    out_variants.append({"name": name, "base": base, "override": override, "cases": cases})

json.dump({"tokenizers_version": tokenizers.__version__, "bases": bases, "variants": out_variants},
          open(out_path, "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
print(len(out_variants), "variants,", len(texts), "texts each")
