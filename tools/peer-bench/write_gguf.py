#!/usr/bin/env python3
"""Write a GGUF v3 file with the shape of Llama-3.2-1B and random BF16 (or F16) weights.

Standard library only. The file is meant for speed benchmarks: the weights
are random (seeded, so the file is reproducible byte for byte) and the
tokenizer is a synthetic byte-level BPE vocabulary of the right size.

Layout follows ggml's GGUF v3 format (docs/gguf.md in ggml / llama.cpp):

    header:      magic "GGUF", u32 version = 3, u64 n_tensors, u64 n_kv
    metadata:    n_kv x (string key, u32 value type, value)
    tensor info: n_tensors x (string name, u32 n_dims, u64 dims[n_dims]
                 (innermost first), u32 ggml type, u64 offset)
    padding to general.alignment (32), then the tensor data, each tensor
    starting at an aligned offset relative to the start of the data.

Strings are u64 length + UTF-8 bytes; everything is little endian.
"""

import argparse
import math
import os
import random
import struct
import sys

# GGUF metadata value types
GGUF_UINT8, GGUF_INT8, GGUF_UINT16, GGUF_INT16 = 0, 1, 2, 3
GGUF_UINT32, GGUF_INT32, GGUF_FLOAT32, GGUF_BOOL = 4, 5, 6, 7
GGUF_STRING, GGUF_ARRAY, GGUF_UINT64, GGUF_INT64, GGUF_FLOAT64 = 8, 9, 10, 11, 12

# ggml tensor types
GGML_F32 = 0
GGML_F16 = 1
GGML_BF16 = 30

LLAMA_FTYPE_MOSTLY_F16 = 1
LLAMA_FTYPE_MOSTLY_BF16 = 32
ALIGNMENT = 32

# Llama-3.2-1B hyper-parameters
HP = dict(
    n_embd=2048,
    n_layer=16,
    n_head=32,
    n_head_kv=8,
    head_dim=64,
    n_ff=8192,
    n_vocab=128256,
    n_ctx_train=131072,
    rope_theta=500000.0,
    rms_eps=1e-5,
    # llama3 rope scaling (rope_freqs.weight), as in the released config
    rope_factor=32.0,
    rope_low_freq_factor=1.0,
    rope_high_freq_factor=4.0,
    rope_orig_ctx=8192,
)

N_BASE_TOKENS = 128000  # regular BPE tokens; the rest are special tokens


def pack_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class KV:
    """Accumulates encoded metadata key/value pairs."""

    def __init__(self):
        self.items = []

    def _add(self, key, vtype, payload):
        self.items.append(pack_str(key) + struct.pack("<I", vtype) + payload)

    def u32(self, key, v):
        self._add(key, GGUF_UINT32, struct.pack("<I", v))

    def i32(self, key, v):
        self._add(key, GGUF_INT32, struct.pack("<i", v))

    def f32(self, key, v):
        self._add(key, GGUF_FLOAT32, struct.pack("<f", v))

    def bool(self, key, v):
        self._add(key, GGUF_BOOL, struct.pack("<B", 1 if v else 0))

    def str(self, key, v):
        self._add(key, GGUF_STRING, pack_str(v))

    def str_array(self, key, values):
        parts = [struct.pack("<IQ", GGUF_STRING, len(values))]
        parts.extend(pack_str(v) for v in values)
        self._add(key, GGUF_ARRAY, b"".join(parts))

    def i32_array(self, key, values):
        payload = struct.pack("<IQ", GGUF_INT32, len(values)) + struct.pack("<%di" % len(values), *values)
        self._add(key, GGUF_ARRAY, payload)

    def f32_array(self, key, values):
        payload = struct.pack("<IQ", GGUF_FLOAT32, len(values)) + struct.pack("<%df" % len(values), *values)
        self._add(key, GGUF_ARRAY, payload)


def gpt2_byte_chars():
    """The 256 printable characters GPT-2 style byte-level BPE uses for raw bytes."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    mapping = dict(zip(bs, cs))
    return [chr(mapping[b]) for b in range(256)]


def synthetic_vocab(n_vocab):
    """Byte tokens, then filler tokens, then Llama-3 style special tokens."""
    tokens = gpt2_byte_chars()
    tokens += ["tok_%d" % i for i in range(len(tokens), N_BASE_TOKENS)]
    specials = {
        0: "<|begin_of_text|>",
        1: "<|end_of_text|>",
        2: "<|reserved_special_token_0|>",
        3: "<|reserved_special_token_1|>",
        4: "<|finetune_right_pad_id|>",
        5: "<|reserved_special_token_2|>",
        6: "<|start_header_id|>",
        7: "<|end_header_id|>",
        8: "<|eom_id|>",
        9: "<|eot_id|>",
        10: "<|python_tag|>",
    }
    reserved = 3
    for i in range(n_vocab - N_BASE_TOKENS):
        if i in specials:
            tokens.append(specials[i])
        else:
            tokens.append("<|reserved_special_token_%d|>" % reserved)
            reserved += 1
    types = [1] * N_BASE_TOKENS + [3] * (n_vocab - N_BASE_TOKENS)  # 1 = normal, 3 = control
    # no merges: text tokenizes to byte tokens, which is all a benchmark needs
    merges = []
    return tokens, types, merges


def llama3_rope_factors(hp):
    base, dim = hp["rope_theta"], hp["head_dim"]
    factor = hp["rope_factor"]
    low, high = hp["rope_low_freq_factor"], hp["rope_high_freq_factor"]
    old_ctx = hp["rope_orig_ctx"]
    low_wavelen = old_ctx / low
    high_wavelen = old_ctx / high
    out = []
    for i in range(0, dim, 2):
        freq = 1.0 / (base ** (i / dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return out


def tensor_list(hp, rope_freqs, wtype=GGML_BF16):
    """(name, dims innermost-first, ggml type, kind) in file order."""
    E, F, V = hp["n_embd"], hp["n_ff"], hp["n_vocab"]
    kv_dim = hp["n_head_kv"] * hp["head_dim"]
    q_dim = hp["n_head"] * hp["head_dim"]
    t = []
    if rope_freqs:
        t.append(("rope_freqs.weight", [hp["head_dim"] // 2], GGML_F32, "rope"))
    t.append(("token_embd.weight", [E, V], wtype, "rand"))
    for i in range(hp["n_layer"]):
        p = "blk.%d." % i
        t += [
            (p + "attn_norm.weight", [E], GGML_F32, "ones"),
            (p + "attn_q.weight", [E, q_dim], wtype, "rand"),
            (p + "attn_k.weight", [E, kv_dim], wtype, "rand"),
            (p + "attn_v.weight", [E, kv_dim], wtype, "rand"),
            (p + "attn_output.weight", [q_dim, E], wtype, "rand"),
            (p + "ffn_norm.weight", [E], GGML_F32, "ones"),
            (p + "ffn_gate.weight", [E, F], wtype, "rand"),
            (p + "ffn_up.weight", [E, F], wtype, "rand"),
            (p + "ffn_down.weight", [F, E], wtype, "rand"),
        ]
    t.append(("output_norm.weight", [E], GGML_F32, "ones"))
    # tied embeddings: no output.weight, llama.cpp reuses token_embd.weight
    return t


def nbytes(dims, gtype):
    n = 1
    for d in dims:
        n *= d
    return n * (4 if gtype == GGML_F32 else 2)


def align(x):
    return (x + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


# High byte of a little-endian bf16: keep the sign bit and the lowest exponent
# bit, force the other exponent bits so the biased exponent is 118..121.
# Values are then +-[2^-9, 2^-5) with random mantissas: small, never zero.
_HI_TABLE = bytes(((b & 0x81) | 0x3B) for b in range(256))
# The same for f16 (5 exponent bits, bias 15): biased exponent 4..7, values +-[2^-11, 2^-7).
_HI_TABLE_F16 = bytes(((b & 0x8F) | 0x10) for b in range(256))


def write_random_half(f, n_elems, rng, hi_table, chunk=1 << 24):
    buf = bytearray(2 * min(chunk, n_elems))
    left = n_elems
    while left > 0:
        n = min(chunk, left)
        if len(buf) != 2 * n:
            buf = bytearray(2 * n)
        buf[0::2] = rng.randbytes(n)
        buf[1::2] = rng.randbytes(n).translate(hi_table)
        f.write(buf)
        left -= n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("output", help="path of the .gguf file to write")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--layers", type=int, default=HP["n_layer"], help="override the number of layers (for quick tests)")
    ap.add_argument("--no-rope-freqs", action="store_true", help="omit rope_freqs.weight (llama3 rope scaling)")
    ap.add_argument("--type", choices=("bf16", "f16"), default="bf16", help="type of the weight matrices")
    args = ap.parse_args()
    wtype = GGML_F16 if args.type == "f16" else GGML_BF16

    hp = dict(HP)
    hp["n_layer"] = args.layers
    arch = "llama"

    kv = KV()
    kv.str("general.architecture", arch)
    kv.str("general.type", "model")
    kv.str("general.name", "Llama-3.2-1B shape, random %s weights" % args.type.upper())
    kv.u32("general.file_type", LLAMA_FTYPE_MOSTLY_F16 if wtype == GGML_F16 else LLAMA_FTYPE_MOSTLY_BF16)
    kv.u32("general.alignment", ALIGNMENT)
    kv.u32(arch + ".block_count", hp["n_layer"])
    kv.u32(arch + ".context_length", hp["n_ctx_train"])
    kv.u32(arch + ".embedding_length", hp["n_embd"])
    kv.u32(arch + ".feed_forward_length", hp["n_ff"])
    kv.u32(arch + ".attention.head_count", hp["n_head"])
    kv.u32(arch + ".attention.head_count_kv", hp["n_head_kv"])
    kv.u32(arch + ".attention.key_length", hp["head_dim"])
    kv.u32(arch + ".attention.value_length", hp["head_dim"])
    kv.f32(arch + ".rope.freq_base", hp["rope_theta"])
    kv.u32(arch + ".rope.dimension_count", hp["head_dim"])
    kv.f32(arch + ".attention.layer_norm_rms_epsilon", hp["rms_eps"])
    kv.u32(arch + ".vocab_size", hp["n_vocab"])

    tokens, types, merges = synthetic_vocab(hp["n_vocab"])
    kv.str("tokenizer.ggml.model", "gpt2")
    kv.str("tokenizer.ggml.pre", "llama-bpe")
    kv.str_array("tokenizer.ggml.tokens", tokens)
    kv.i32_array("tokenizer.ggml.token_type", types)
    kv.str_array("tokenizer.ggml.merges", merges)
    kv.u32("tokenizer.ggml.bos_token_id", N_BASE_TOKENS + 0)
    kv.u32("tokenizer.ggml.eos_token_id", N_BASE_TOKENS + 1)
    kv.bool("tokenizer.ggml.add_bos_token", True)

    tensors = tensor_list(hp, not args.no_rope_freqs, wtype)

    infos = []
    offset = 0
    for name, dims, gtype, _ in tensors:
        infos.append(pack_str(name) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims)
                     + struct.pack("<IQ", gtype, offset))
        offset = align(offset + nbytes(dims, gtype))

    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv.items))
    meta = header + b"".join(kv.items) + b"".join(infos)

    rng = random.Random(args.seed)
    tmp = args.output + ".tmp"
    total = 0
    with open(tmp, "wb") as f:
        f.write(meta)
        f.write(b"\0" * (align(len(meta)) - len(meta)))
        data_start = f.tell()
        for name, dims, gtype, kind in tensors:
            pos = f.tell() - data_start
            pad = align(pos) - pos
            if pad:
                f.write(b"\0" * pad)
            n = 1
            for d in dims:
                n *= d
            if kind == "rand":
                write_random_half(f, n, rng, _HI_TABLE_F16 if gtype == GGML_F16 else _HI_TABLE)
            elif kind == "ones":
                f.write(struct.pack("<f", 1.0) * n)
            elif kind == "rope":
                f.write(struct.pack("<%df" % n, *llama3_rope_factors(hp)))
            total += n
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, args.output)
    print("wrote %s: %d tensors, %d parameters, %.2f GB" % (args.output, len(tensors), total, os.path.getsize(args.output) / 1e9), file=sys.stderr)


if __name__ == "__main__":
    main()
