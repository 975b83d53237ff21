#!/usr/bin/env python3
"""The `./mii bench` workload through Hugging Face transformers' generate(), on the same GPU.

Prints one JSON object with the fields `./mii bench --json` prints (device, model, batch_size,
num_requests, input_len, output_len, ttft_ms, tpot_ms, output_tokens_per_s, total_tokens_per_s,
weight_bytes, read_bandwidth_gbs, roofline_tpot_ms, ...), so that every figure has its ratio:

    python3 tools/hf-bench/hf_bench.py --dummy llama-3-8b --batch-size 1 --num-requests 4 \
        --input-len 128 --output-len 128 --json
    python3 tools/hf-bench/hf_bench.py --model DIR --batch-size 64 --num-requests 256 --json

Dummy weights are random BF16 values of the model's shape, made on the GPU from a config (nothing is
downloaded or written). transformers pads nothing here: all prompts of a batch have input_len tokens,
and every request generates exactly output_len tokens (EOS is never sampled: greedy with
min_new_tokens = max_new_tokens). The N requests run as ceil(N / B) static batches, which is how
generate() serves concurrent requests; TTFT is a batch's prefill (submission to first token) and
TPOT the time between its first and last token over output_len - 1. --static-cache adds
cache_implementation="static" and torch.compile (slow to compile, faster to decode).
"""
import argparse
import json
import statistics
import sys
import time

import torch

SHAPES = {
    # hidden, layers, heads, kv heads, intermediate, vocab, tied embeddings (as MII-J's DummyModel)
    "llama-3-8b": (4096, 32, 32, 8, 14336, 128256, False),
    "llama-3.2-1b": (2048, 16, 32, 8, 8192, 128256, True),
    "small": (768, 8, 12, 4, 2048, 32000, True),
    "tiny": (256, 4, 8, 2, 768, 4096, True),
}


def dummy_config(name):
    from transformers import LlamaConfig
    h, layers, heads, kv, inter, vocab, tied = SHAPES[name]
    return LlamaConfig(hidden_size=h, num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                       intermediate_size=inter, vocab_size=vocab, max_position_embeddings=131072, rms_norm_eps=1e-5,
                       rope_theta=500000.0, tie_word_embeddings=tied, hidden_act="silu",
                       rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                       bos_token_id=1, eos_token_id=2, pad_token_id=0)


def load(args, device):
    from transformers import AutoModelForCausalLM
    if args.dummy:
        config = dummy_config(args.dummy)
        with torch.device(device):
            try:
                model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
            except TypeError:  # transformers before 4.56 names it torch_dtype
                model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
        # Small uniform values, as MII-J's dummy weights; norms stay 1.
        g = torch.Generator(device=device).manual_seed(0)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.dim() == 2:
                    p.uniform_(-0.04, 0.04, generator=g)
        return model.eval(), args.dummy
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).to(device)
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16).to(device)
    return model.eval(), args.model


def weight_bytes(model):
    """Bytes of the matrices read per decode step: every 2-D weight but the input embedding (unless tied)."""
    tied = model.config.tie_word_embeddings
    total = 0
    seen = set()
    for name, p in model.named_parameters():
        if p.dim() != 2 or p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        if "embed_tokens" in name and not tied:
            continue
        total += p.numel() * p.element_size()
    return total


def read_bandwidth(device):
    """As MII-J's probe: best of five device-to-device copies of 2 GiB, bytes read + written per second."""
    n = 2 << 30
    a = torch.ones(n, dtype=torch.uint8, device=device)
    b = torch.empty_like(a)
    best = 0.0
    for i in range(6):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        b.copy_(a)
        end.record()
        end.synchronize()
        if i > 0:
            best = max(best, 2 * n / (start.elapsed_time(end) / 1e3) / 1e9)
    del a, b
    torch.cuda.empty_cache()
    return best


class Clock:
    """A streamer that notes when each step's tokens come out (the first put() is the prompt)."""

    def __init__(self):
        self.times = []

    def put(self, value):
        torch.cuda.synchronize()
        self.times.append(time.perf_counter())

    def end(self):
        pass


def run_batch(model, batch, args, vocab, gen):
    ids = torch.randint(3, vocab, (batch, args.input_len), device=model.device, generator=gen)
    clock = Clock()
    kwargs = dict(max_new_tokens=args.output_len, min_new_tokens=args.output_len, do_sample=False,
                  attention_mask=torch.ones_like(ids), pad_token_id=0, streamer=clock)
    if args.static_cache:
        kwargs["cache_implementation"] = "static"
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, **kwargs)
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    steps = clock.times[1:]  # after the prompt's put()
    new = out.shape[1] - args.input_len
    ttft = (steps[0] - t0) * 1e3
    tpot = (steps[-1] - steps[0]) * 1e3 / (len(steps) - 1) if len(steps) > 1 else float("nan")
    return ttft, tpot, t1 - t0, new * batch


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dummy", choices=sorted(SHAPES))
    src.add_argument("--model")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--num-requests", type=int)
    p.add_argument("--input-len", type=int, default=128)
    p.add_argument("--output-len", type=int, default=128)
    p.add_argument("--static-cache", action="store_true", help="static KV cache and torch.compile")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    args = p.parse_args()
    n = args.num_requests or max(args.batch_size, 8)
    if min(args.batch_size, n, args.input_len, args.output_len) < 1:
        p.error("batch size, requests, input and output lengths must be positive")
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU visible to torch")
    device = torch.device("cuda:0")
    log = sys.stderr if args.json else sys.stdout
    bandwidth = read_bandwidth(device)
    t0 = time.perf_counter()
    model, name = load(args, device)
    if args.static_cache:
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
    torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    vocab = model.config.vocab_size
    gen = torch.Generator(device=device).manual_seed(42)
    print(f"warming up on {torch.cuda.get_device_name(device)}...", file=log)
    warm = argparse.Namespace(**{**vars(args), "output_len": min(args.output_len, 4)})
    run_batch(model, min(args.batch_size, n), warm, vocab, gen)
    ttfts, tpots, tokens, elapsed = [], [], 0, 0.0
    left = n
    while left > 0:
        b = min(args.batch_size, left)
        ttft, tpot, secs, new = run_batch(model, b, args, vocab, gen)
        ttfts += [ttft] * b
        tpots += [tpot] * b
        tokens += new
        elapsed += secs
        left -= b
    wb = weight_bytes(model)
    report = {
        "device": torch.cuda.get_device_name(device),
        "model": name,
        "batch_size": args.batch_size,
        "num_requests": n,
        "input_len": args.input_len,
        "output_len": args.output_len,
        "ttft_ms": round(statistics.median(ttfts), 3),
        "tpot_ms": round(statistics.median(tpots), 4),
        "output_tokens_per_s": round(tokens / elapsed, 1),
        "total_tokens_per_s": round((tokens + n * args.input_len) / elapsed, 1),
        "weight_bytes": wb,
        "read_bandwidth_gbs": round(bandwidth, 3),
        "roofline_tpot_ms": round(wb / (bandwidth * 1e9) * 1e3, 4),
        "engine": "transformers " + __import__("transformers").__version__
                  + (" (static cache, torch.compile)" if args.static_cache else ""),
        "backend": "torch " + torch.__version__,
        "dtype": "bf16",
        "elapsed_s": round(elapsed, 3),
        "load_s": round(load_s, 2),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:22s} {v}")


if __name__ == "__main__":
    main()
