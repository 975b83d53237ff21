#!/usr/bin/env python3
"""Trains the small demo model that MII-J ships: a ~12.6M-parameter Llama on the King James Bible.

usage: python3 train.py --corpus data/kjv.txt --out OUT_DIR [--minutes 10]

The corpus is the one-verse-per-line file written by prepare-corpus.sh. Steps:

1. Split the verses deterministically by 0-based line index i: i % 50 == 49 is the test set
   (held out; its perplexity is reported), i % 50 == 24 is the development set (used only to
   pick the best checkpoint), everything else (96%) is the training set.
2. Train a byte-level BPE tokenizer (HF `tokenizers`) on the training verses: vocabulary 8192,
   special tokens <|endoftext|> (id 0, used as both BOS and EOS) and <|pad|> (id 1).
3. Encode each split as one token stream "<|endoftext|> verse <|endoftext|> verse ... <|endoftext|>".
4. Train a LlamaForCausalLM (hidden 384, 6 layers, 6 heads, 2 KV heads, MLP 1024, tied embeddings)
   on random 256-token windows of the training stream: AdamW, linear warmup then cosine decay, bf16
   autocast on CUDA. Training stops at the wall-clock budget (--minutes) or after --max-epochs passes
   over the training tokens, whichever comes first; the learning-rate schedule follows whichever of
   the two is further along. The corpus is only about a million tokens, so a fast GPU reaches the
   epoch cap well before the time budget; the development loss is measured twice per epoch and the
   best checkpoint is the one exported.
5. Export OUT_DIR as a standard Hugging Face folder with bfloat16 safetensors, reload it with
   AutoModelForCausalLM in float32 and measure the test perplexity, write perplexity_reference.json
   (the check for other inference engines) and a README.md model card, and print sample continuations.

Uses CUDA when available, otherwise the CPU (for a short smoke run, e.g. --minutes 0.2).
"""
import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import torch
import torch.nn.functional as F
import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
import transformers
from transformers import AutoModelForCausalLM, GenerationConfig, LlamaConfig

EOT = "<|endoftext|>"
PAD = "<|pad|>"
TEST_RESIDUE, DEV_RESIDUE, SPLIT_MODULUS = 49, 24, 50

ARCH = dict(
    hidden_size=384,
    num_hidden_layers=6,
    num_attention_heads=6,
    num_key_value_heads=2,
    head_dim=64,
    intermediate_size=1024,
    max_position_embeddings=512,
    rms_norm_eps=1e-5,
    initializer_range=0.02,
    hidden_act="silu",
    tie_word_embeddings=True,
    attention_bias=False,
    mlp_bias=False,
    attention_dropout=0.0,
)
ROPE_THETA = 10000.0

PROMPTS = ["In the beginning", "And the LORD said unto Moses", "The LORD is my shepherd", "Blessed are the"]
REF_WINDOWS, REF_WINDOW_LEN = 8, 128
REF_GREEDY_TOKENS = 32
DEFAULTS = {}


def log(*args):
    print(*args, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="one verse per line (prepare-corpus.sh output)")
    ap.add_argument("--out", required=True, help="output folder (Hugging Face model folder)")
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget of the training loop")
    ap.add_argument("--max-epochs", type=float, default=40.0,
                    help="stop after this many passes over the training tokens (0: no cap, time only)")
    ap.add_argument("--batch-size", type=int, default=0, help="sequences per step (default 64 on CUDA, 8 on CPU)")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate")
    ap.add_argument("--min-lr-ratio", type=float, default=0.1, help="final learning rate as a fraction of the peak")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1,
                    help="dropout on the embedding, attention and MLP outputs during training only")
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every-s", type=float, default=30.0)
    DEFAULTS.update(vars(ap.parse_args(["--corpus", "-", "--out", "-"])))
    args = ap.parse_args()
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    if args.seq_len < 8 or args.seq_len > ARCH["max_position_embeddings"]:
        ap.error("--seq-len must be between 8 and %d" % ARCH["max_position_embeddings"])
    return args


# ----------------------------------------------------------------------------- data

def read_corpus(path):
    with open(path, encoding="utf-8") as f:
        verses = [" ".join(line.split()) for line in f]
    verses = [v for v in verses if v]
    if len(verses) < 1000:
        sys.exit("corpus %s has only %d non-empty lines; expected the ~31k verses of prepare-corpus.sh"
                 % (path, len(verses)))
    return verses


def split_verses(verses):
    train, dev, test = [], [], []
    for i, v in enumerate(verses):
        r = i % SPLIT_MODULUS
        (test if r == TEST_RESIDUE else dev if r == DEV_RESIDUE else train).append(v)
    return train, dev, test


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOT, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    eot_id = tok.token_to_id(EOT)
    tok.post_processor = processors.TemplateProcessing(
        single=EOT + " $A", pair=EOT + " $A " + EOT + " $B", special_tokens=[(EOT, eot_id)])
    return tok


def encode_stream(tok, verses, eot_id):
    """One stream: EOT v1 EOT v2 ... vN EOT (EOT separates verses and doubles as BOS)."""
    ids = []
    for enc in tok.encode_batch(verses, add_special_tokens=False):
        ids.append(eot_id)
        ids.extend(enc.ids)
    ids.append(eot_id)
    return torch.tensor(ids, dtype=torch.long)


def windows(stream, length):
    """Non-overlapping windows of `length` tokens from the start of the stream (the tail is dropped)."""
    n = stream.numel() // length
    return stream[: n * length].view(n, length)


# ----------------------------------------------------------------------------- model

def build_model(vocab_size, eot_id, pad_id):
    cfg = LlamaConfig(vocab_size=vocab_size, bos_token_id=eot_id, eos_token_id=eot_id, pad_token_id=pad_id,
                      rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA}, **ARCH)
    try:
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa")
    except (TypeError, ValueError, ImportError) as e:
        log("sdpa attention not available (%s); using the default attention" % e)
        model = AutoModelForCausalLM.from_config(cfg)
    model = model.float()
    ensure_tied(model)
    return model


def ensure_tied(model):
    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    if out.weight is inp.weight:
        return
    model.tie_weights()
    if out.weight is not inp.weight:
        out.weight = inp.weight
    if model.get_output_embeddings().weight is not model.get_input_embeddings().weight:
        raise RuntimeError("could not tie the output embedding to the input embedding")


def count_params(model):
    return sum(p.numel() for p in model.parameters())  # parameters() yields the tied matrix once


def add_dropout_hooks(model, p):
    """Residual-branch dropout (embedding, attention and MLP outputs), active in train mode only.

    LlamaForCausalLM has no dropout of its own besides attention_dropout; the corpus is small, so
    this regularizes. Forward hooks are not part of the saved model."""
    if p <= 0:
        return []

    def hook(module, inputs, output):
        if not module.training:
            return None
        if torch.is_tensor(output):
            return F.dropout(output, p, True)
        if isinstance(output, tuple) and output and torch.is_tensor(output[0]):
            return (F.dropout(output[0], p, True),) + tuple(output[1:])
        return None

    handles = []
    base = getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    emb = getattr(base, "embed_tokens", None)
    if layers is None or emb is None:
        log("warning: unexpected module layout; training without residual dropout")
        return handles
    handles.append(emb.register_forward_hook(hook))
    for layer in layers:
        for name in ("self_attn", "mlp"):
            sub = getattr(layer, name, None)
            if sub is None:
                log("warning: decoder layer has no %s; no dropout there" % name)
                continue
            handles.append(sub.register_forward_hook(hook))
    return handles


def make_optimizer(model, lr, weight_decay, device):
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if device.type == "cuda":
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=True)
        except (TypeError, RuntimeError, ValueError) as e:
            log("fused AdamW not available (%s); using the default implementation" % e)
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8)


# ----------------------------------------------------------------------------- evaluation

@torch.no_grad()
def token_nll(model, wins, device, batch=16):
    """Per-token NLL (float32 log-softmax) of each window's tokens 1..L-1 given their prefix.

    Returns a [N, L-1] float64 CPU tensor. The model is run as given (set dtype/eval by the caller)."""
    out = []
    for i in range(0, wins.size(0), batch):
        x = wins[i:i + batch].to(device)
        logits = model(input_ids=x, use_cache=False).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        nll = -logp.gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
        out.append(nll.double().cpu())
    return torch.cat(out, dim=0)


def mean_nll(model, wins, device, batch=16):
    return float(token_nll(model, wins, device, batch).mean())


@torch.no_grad()
def continue_ids(model, prompt_ids, n, device, eos_id=None, sample=False, temperature=0.8, top_p=0.9, gen=None,
                 max_ctx=512):
    """Full forward per step (no KV cache). Greedy unless sample; stops at eos_id when given."""
    ids, new, margins = list(prompt_ids), [], []
    for _ in range(n):
        x = torch.tensor([ids[-max_ctx:]], dtype=torch.long, device=device)
        logits = model(input_ids=x, use_cache=False).logits[0, -1].float()
        if sample:
            probs = torch.softmax(logits / temperature, dim=-1)
            sp, si = torch.sort(probs, descending=True)
            keep = (torch.cumsum(sp, dim=0) - sp) < top_p  # smallest prefix with mass >= top_p
            sp = sp * keep
            nxt = int(si[torch.multinomial(sp / sp.sum(), 1, generator=gen)])
        else:
            top = torch.topk(logits, 2)
            nxt = int(top.indices[0])
            margins.append(float(top.values[0] - top.values[1]))
        if eos_id is not None and nxt == eos_id:
            break
        ids.append(nxt)
        new.append(nxt)
    return new, margins


# ----------------------------------------------------------------------------- export

def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def check_safetensors(out_dir):
    """Size of the weights; also reports their tensors and dtypes (informational)."""
    files = sorted(f for f in os.listdir(out_dir) if f.endswith(".safetensors"))
    if files != ["model.safetensors"]:
        log("warning: expected a single model.safetensors, found %s" % files)
    size = sum(os.path.getsize(os.path.join(out_dir, name)) for name in files)
    if size > 30e6:
        log("warning: weights are larger than 30 MB")
    try:
        from safetensors import safe_open
        dtypes, keys = set(), []
        for name in files:
            with safe_open(os.path.join(out_dir, name), framework="pt") as f:
                for k in f.keys():
                    keys.append(k)
                    dtypes.add(str(f.get_slice(k).get_dtype()))
        log("safetensors: %d tensors, dtypes %s, %.1f MB" % (len(keys), sorted(dtypes), size / 1e6))
        if any(d.upper() not in ("BF16", "BFLOAT16") for d in dtypes):
            log("warning: not all tensors are bfloat16")
        if any(k.startswith("lm_head") for k in keys):
            log("warning: lm_head is stored although the embeddings are tied")
    except Exception as e:  # informational only
        log("warning: could not inspect the safetensors header: %r" % (e,))
    return size


def check_hf_tokenizer(out_dir, tok):
    """Loads the folder's tokenizer through transformers and compares with `tokenizers` (informational)."""
    try:
        from transformers import AutoTokenizer
        hf = AutoTokenizer.from_pretrained(out_dir)
        for text in PROMPTS:
            a = hf(text)["input_ids"]
            b = tok.encode(text).ids
            if list(a) != list(b):
                log("warning: AutoTokenizer encodes %r as %s, tokenizers as %s" % (text, a, b))
                return False
        log("AutoTokenizer (%s) agrees with tokenizers on the prompts" % type(hf).__name__)
        return True
    except Exception as e:  # informational only
        log("warning: AutoTokenizer check failed: %r" % (e,))
        return False


def repro_command(args):
    """The train.py command line of this run, with the options that differ from the defaults."""
    parts = ["python3 tools/train-demo/train.py --corpus tools/train-demo/data/kjv.txt --out OUT_DIR"]
    for key, value in sorted(vars(args).items()):
        if key in ("corpus", "out"):
            continue
        if value != DEFAULTS.get(key) or key == "minutes":
            parts.append("--%s %s" % (key.replace("_", "-"), value))
    return " ".join(parts)


def model_card(info):
    i = info
    samples = "\n".join("- **%s** → %s" % (p, t) for p, t in i["greedy_samples"])
    return f"""---
license: cc0-1.0
language:
- en
library_name: transformers
pipeline_tag: text-generation
tags:
- llama
- tiny
- demo
- mii-j
---

# MII-J demo model: a {i['params_m']:.1f}M-parameter Llama trained on the King James Bible

A very small causal language model that ships with MII-J so that `./mii generate "PROMPT"` works
offline. It writes text in the style of the King James Version of the Bible and knows nothing
else: it is a demonstration and test model, not an assistant. Expect fluent-looking archaic
English with little meaning, and often verses recalled or blended from the training text.

## Model

| | |
|---|---|
| architecture | `LlamaForCausalLM` (`model_type: llama`) |
| parameters | {i['params']:,} (embeddings tied with the output layer) |
| layers / hidden / MLP | {ARCH['num_hidden_layers']} / {ARCH['hidden_size']} / {ARCH['intermediate_size']} (SwiGLU) |
| attention | {ARCH['num_attention_heads']} query heads, {ARCH['num_key_value_heads']} key/value heads (GQA), head dim {ARCH['head_dim']} |
| positions | RoPE, theta {ROPE_THETA:g}, up to {ARCH['max_position_embeddings']} tokens |
| weights | bfloat16 safetensors, {i['weights_mb']:.1f} MB |
| tokenizer | byte-level BPE, {i['vocab_size']} tokens, trained on the training split; `<|endoftext|>` (id {i['eot_id']}) is BOS and EOS, `<|pad|>` (id {i['pad_id']}) pads |

The tokenizer's post-processor prepends `<|endoftext|>` to every encoded text, as in training,
where each verse was preceded by it.

## Training data

The King James Version of the Bible (1611 translation; public domain), taken from Debian's
`bible-kjv-text` package{i['corpus_source']}. One verse per line, references removed,
{i['n_verses']:,} verses ({i['corpus_bytes']:,} bytes, sha256 `{i['corpus_sha256']}`).

Split by 0-based verse index i: i % 50 == 49 is the **test** set ({i['n_test']:,} verses,
{i['test_tokens']:,} tokens), i % 50 == 24 the **development** set ({i['n_dev']:,} verses, used
only to choose the checkpoint), the rest the **training** set ({i['n_train']:,} verses,
{i['train_tokens']:,} tokens). The tokenizer saw only the training set.

## Training

- device: {i['device_name']}; training loop {i['train_minutes']:.1f} min ({i['stop_reason']})
- {i['steps']:,} steps of {i['batch_size']} × {i['seq_len']} tokens ({i['tokens_seen']/1e6:.1f}M tokens,
  {i['epochs']:.1f} epochs over the training tokens), random windows of the verse stream
  (`<|endoftext|>` between verses)
- AdamW (β = 0.9, 0.95, weight decay {i['weight_decay']}), peak learning rate {i['lr']:g}, linear warmup
  ({i['warmup_steps']} steps) then cosine decay to {i['min_lr_ratio']:g} × peak; gradient clipping 1.0;
  {i['precision']}; dropout {i['dropout']} on the embedding, attention and MLP outputs
- exported checkpoint: step {i['best_step']:,} (epoch {i['best_epoch']:.1f}), the lowest development loss
  ({i['best_dev_nll']:.4f})
- software: torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}

## Evaluation

Held-out **test perplexity: {i['test_ppl']:.2f}** (mean NLL {i['test_nll']:.4f} nats per token)
over {i['test_windows']} non-overlapping {i['seq_len']}-token windows of the test stream, each token
predicted from the earlier tokens of its window (the first token of each window is not scored).
Computed by transformers in float32 (eager attention, eval mode) on these bfloat16 weights, loaded
with `AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)`.

`perplexity_reference.json` holds the token ids of the first {REF_WINDOWS} test windows of {REF_WINDOW_LEN} tokens,
with transformers' float32 per-token NLL, mean NLL ({i['ref_nll']:.6f}) and perplexity ({i['ref_ppl']:.4f}), and
greedy continuations of a few prompts: other inference engines are checked against it.

## Samples (greedy, up to 48 new tokens)

{samples}

The generation defaults (`generation_config.json`) sample with temperature 0.8 and top-p 0.9, up
to 64 new tokens.

## How to reproduce

From the MII-J repository, on a Debian or Ubuntu machine (fetches two Debian packages):

```
tools/train-demo/prepare-corpus.sh tools/train-demo/data/kjv.txt
```

then, on a machine with PyTorch, transformers, tokenizers and safetensors (one GPU; the CPU works
for a smoke run):

```
{i['command']}
```

Runs are repeatable in data, split and tokenizer; the weights vary slightly between runs and GPUs.

## License

The training text is in the public domain. These weights, the tokenizer and this card are
dedicated to the public domain under CC0 1.0.
"""


# ----------------------------------------------------------------------------- main

def main():
    args = parse_args()
    t_start = time.time()
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU (%s)" % (
        platform.processor() or platform.machine())
    batch_size = args.batch_size or (64 if device.type == "cuda" else 8)
    T = args.seq_len
    log("torch %s, transformers %s, tokenizers %s; device %s" % (
        torch.__version__, transformers.__version__, tokenizers.__version__, device_name))
    os.makedirs(args.out, exist_ok=True)

    # --- data and tokenizer
    verses = read_corpus(args.corpus)
    with open(args.corpus, "rb") as f:
        raw = f.read()
    corpus_sha256, corpus_bytes = hashlib.sha256(raw).hexdigest(), len(raw)
    train_v, dev_v, test_v = split_verses(verses)
    log("corpus: %d verses (%d bytes); train %d, dev %d, test %d" % (
        len(verses), corpus_bytes, len(train_v), len(dev_v), len(test_v)))

    t0 = time.time()
    tok = train_tokenizer(train_v, args.vocab_size)
    eot_id, pad_id = tok.token_to_id(EOT), tok.token_to_id(PAD)
    vocab_size = tok.get_vocab_size()
    log("tokenizer: %d tokens (%s=%d, %s=%d) in %.1fs" % (vocab_size, EOT, eot_id, PAD, pad_id, time.time() - t0))
    probe = tok.encode("In the beginning God created the heaven and the earth.")
    log("  %s" % probe.tokens)
    if probe.ids[0] != eot_id:
        raise RuntimeError("the post-processor did not prepend %s" % EOT)
    if tok.decode(probe.ids, skip_special_tokens=True) != "In the beginning God created the heaven and the earth.":
        raise RuntimeError("tokenizer round trip failed: %r" % tok.decode(probe.ids, skip_special_tokens=True))

    train_stream = encode_stream(tok, train_v, eot_id)
    dev_stream = encode_stream(tok, dev_v, eot_id)
    test_stream = encode_stream(tok, test_v, eot_id)
    log("tokens: train %d, dev %d, test %d (%.2f chars/token)" % (
        train_stream.numel(), dev_stream.numel(), test_stream.numel(),
        sum(len(v) + 1 for v in train_v) / train_stream.numel()))
    dev_wins, test_wins = windows(dev_stream, T), windows(test_stream, T)
    if dev_wins.size(0) == 0 or test_wins.size(0) == 0 or train_stream.numel() <= T + 1:
        raise RuntimeError("corpus too small for %d-token windows" % T)

    # --- model
    model = build_model(vocab_size, eot_id, pad_id).to(device)
    ensure_tied(model)
    n_params = count_params(model)
    log("model: %d parameters (%.2fM), attention %s" % (
        n_params, n_params / 1e6, getattr(model.config, "_attn_implementation", "?")))
    opt = make_optimizer(model, args.lr, args.weight_decay, device)
    hooks = add_dropout_hooks(model, args.dropout)

    tokens_per_step = batch_size * T
    steps_per_epoch = train_stream.numel() / tokens_per_step
    max_steps = int(math.ceil(args.max_epochs * steps_per_epoch)) if args.max_epochs > 0 else 0
    warmup = max(10, min(300, int(0.02 * max_steps))) if max_steps else 100
    eval_every = max(10, int(steps_per_epoch / 2))
    budget_s = args.minutes * 60.0
    log("training: batch %d x %d tokens, %.1f steps/epoch, cap %s steps, warmup %d, dev eval every %d steps, "
        "budget %.1f min" % (batch_size, T, steps_per_epoch, max_steps or "none", warmup, eval_every, args.minutes))

    stream_dev = train_stream.to(device)
    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    offsets = torch.arange(T + 1, device=device)
    n_starts = train_stream.numel() - (T + 1) + 1
    autocast = (lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    def lr_at(step, progress):
        warm = min(1.0, (step + 1) / warmup)
        cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return args.lr * warm * (args.min_lr_ratio + (1.0 - args.min_lr_ratio) * cos)

    def dev_eval():
        model.eval()
        v = mean_nll(model, dev_wins, device)
        model.train()
        return v

    best = {"nll": float("inf"), "step": 0, "state": None}
    history = []

    def consider(step, v):
        history.append((step, v))
        if v < best["nll"]:
            best.update(nll=v, step=step, state={k: t.detach().clone() for k, t in model.state_dict().items()})

    model.train()
    step, loss_sum, loss_n = 0, torch.zeros((), device=device), 0
    last_dev, stop_reason = float("nan"), ""
    t_train = time.time()
    last_print, last_print_step = t_train, 0
    while True:
        elapsed = time.time() - t_train
        progress = elapsed / budget_s
        if max_steps:
            progress = max(progress, step / max_steps)
        if progress >= 1.0:
            stop_reason = "epoch cap (%g epochs) reached" % args.max_epochs if max_steps and step >= max_steps \
                else "time budget (%g min) reached" % args.minutes
            break
        lr = lr_at(step, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, n_starts, (batch_size,), device=device, generator=gen)
        chunk = stream_dev[starts.unsqueeze(1) + offsets.unsqueeze(0)]
        x, y = chunk[:, :-1], chunk[:, 1:]
        with autocast():
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_sum += loss.detach()
        loss_n += 1

        if step % eval_every == 0:
            last_dev = dev_eval()
            if not math.isfinite(last_dev):
                raise RuntimeError("development loss is not finite at step %d" % step)
            consider(step, last_dev)
            if device.type == "cuda" and step == eval_every:
                log("  (GPU memory in use: %.1f GB peak)" % (torch.cuda.max_memory_allocated() / 1e9))
        now = time.time()
        if now - last_print >= args.log_every_s or step == 1:
            train_loss = float(loss_sum) / max(1, loss_n)
            if not math.isfinite(train_loss):
                raise RuntimeError("training loss is not finite at step %d" % step)
            tps = (step - last_print_step) * tokens_per_step / max(1e-9, now - last_print)
            dev_txt = "dev %.4f (best %.4f)" % (last_dev, best["nll"]) if history else "dev -"
            log("step %6d  epoch %6.2f  lr %.2e  loss %.4f  %s  %8.0f tok/s  %6.1fs" % (
                step, step / steps_per_epoch, lr, train_loss, dev_txt, tps, now - t_train))
            loss_sum, loss_n = torch.zeros((), device=device), 0
            last_print, last_print_step = now, step

    if device.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.time() - t_train
    if not history or history[-1][0] != step:
        last_dev = dev_eval()
        consider(step, last_dev)
    for h in hooks:
        h.remove()
    log("stopped after %d steps, %.1f min: %s" % (step, train_s / 60, stop_reason))
    log("dev loss history (step, nll): %s" % ", ".join("(%d, %.4f)" % h for h in history[:: max(1, len(history) // 20)]))
    log("best dev loss %.4f at step %d (epoch %.2f); final %.4f" % (
        best["nll"], best["step"], best["step"] / steps_per_epoch, last_dev))
    if best["step"] == step and step > 0:
        log("note: the development loss was still improving at the end; more epochs (--max-epochs) may help")
    elif step > 0 and best["step"] < 0.6 * step:
        log("note: the development loss bottomed out at %.0f%% of training; fewer epochs would do as well"
            % (100.0 * best["step"] / step))
    if best["state"] is None:
        raise RuntimeError("no finite development loss was measured; nothing to export")
    best_step, best_nll = best["step"], best["nll"]
    model.load_state_dict(best["state"])
    model.eval()
    master_test_nll = mean_nll(model, test_wins, device)
    log("test NLL of the float32 training weights: %.4f (ppl %.2f)" % (master_test_nll, math.exp(master_test_nll)))

    # --- export
    out = args.out
    tok.save(os.path.join(out, "tokenizer.json"))
    write_json(os.path.join(out, "tokenizer_config.json"), {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOT,
        "eos_token": EOT,
        "pad_token": PAD,
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": ARCH["max_position_embeddings"],
        "clean_up_tokenization_spaces": False,
    })
    gen_cfg = GenerationConfig(bos_token_id=eot_id, eos_token_id=eot_id, pad_token_id=pad_id, do_sample=True,
                               temperature=0.8, top_p=0.9, max_new_tokens=64)
    model.to(torch.bfloat16)
    model.generation_config = gen_cfg
    model.save_pretrained(out)
    gen_cfg.save_pretrained(out)  # exactly these defaults, whatever save_pretrained derived
    weight_bytes = check_safetensors(out)
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        saved_cfg = json.load(f)
    log("config.json: model_type %s, tie_word_embeddings %s, dtype %s" % (
        saved_cfg.get("model_type"), saved_cfg.get("tie_word_embeddings"),
        saved_cfg.get("dtype", saved_cfg.get("torch_dtype"))))
    model = opt = best = None  # free the training copies before reloading
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # --- reload exactly as a user of transformers would, in float32
    ref = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    p0 = next(ref.parameters())
    log("reloaded: %s, %s, %d parameters" % (type(ref).__name__, p0.dtype, count_params(ref)))

    # Reference for other engines: computed on the CPU in float32 (deterministic, no TF32).
    ref_wins = windows(test_stream, REF_WINDOW_LEN)[:REF_WINDOWS]
    ref_tok_nll = token_nll(ref, ref_wins, torch.device("cpu"), batch=REF_WINDOWS)
    ref_nll = float(ref_tok_nll.mean())
    greedy_refs = []
    for prompt in PROMPTS[:2]:
        ids = tok.encode(prompt).ids
        new, margins = continue_ids(ref, ids, REF_GREEDY_TOKENS, torch.device("cpu"))
        greedy_refs.append({"prompt": prompt, "prompt_ids": ids, "greedy_ids": new,
                            "greedy_text": tok.decode(new, skip_special_tokens=False),
                            "min_top2_margin": min(margins)})
    log("reference: %d windows x %d tokens, mean NLL %.6f, ppl %.4f" % (
        ref_wins.size(0), REF_WINDOW_LEN, ref_nll, math.exp(ref_nll)))

    ref_doc = {
        "description": "Held-out (test split) token windows and the float32 NLL transformers computes on them "
                       "with this folder's bfloat16 weights loaded by AutoModelForCausalLM.from_pretrained("
                       "folder, dtype=torch.float32), eager attention, on the CPU. Feed each window's input_ids "
                       "as they are (no BOS added), as one sequence from position 0; token t (t >= 1) is scored "
                       "by -log softmax(logits at t-1)[id_t]. mean_nll averages all scored tokens of all windows; "
                       "perplexity = exp(mean_nll). greedy: argmax continuations (no EOS stop, full forward per "
                       "step) of the prompts' ids, which include the leading BOS.",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "tokenizers_version": tokenizers.__version__,
        "weights_dtype": "bfloat16",
        "compute_dtype": "float32",
        "window_length": REF_WINDOW_LEN,
        "num_windows": int(ref_wins.size(0)),
        "scored_tokens": int(ref_tok_nll.numel()),
        "mean_nll": ref_nll,
        "perplexity": math.exp(ref_nll),
        "windows": [{"input_ids": [int(t) for t in w],
                     "mean_nll": float(n.mean()),
                     "token_nll": [float(v) for v in n]} for w, n in zip(ref_wins, ref_tok_nll)],
        "greedy": greedy_refs,
    }
    ref_path = os.path.join(out, "perplexity_reference.json")
    write_json(ref_path, ref_doc, indent=1)

    ref.to(device)
    test_nll = mean_nll(ref, test_wins, device)
    test_ppl = math.exp(test_nll)
    check_nll = float(token_nll(ref, ref_wins, device, batch=REF_WINDOWS).mean())
    log("TEST PERPLEXITY (bf16 weights, float32 compute): %.3f  (mean NLL %.5f over %d windows x %d tokens)" % (
        test_ppl, test_nll, test_wins.size(0), T))
    log("reference subset on %s: %.6f (CPU %.6f, relative difference %.1e)" % (
        device.type, check_nll, ref_nll, abs(check_nll - ref_nll) / ref_nll))

    ref_doc["full_test_set"] = {"window_length": T, "num_windows": int(test_wins.size(0)), "mean_nll": test_nll,
                                "perplexity": test_ppl, "device": device.type}
    write_json(ref_path, ref_doc, indent=1)

    # --- samples
    hf_check = None
    greedy_samples = []
    sgen = torch.Generator(device=device)
    sgen.manual_seed(args.seed + 1)
    for prompt in PROMPTS:
        ids = tok.encode(prompt).ids
        new, _ = continue_ids(ref, ids, 48, device, eos_id=eot_id)
        text = tok.decode(ids + new, skip_special_tokens=True)
        greedy_samples.append((prompt, text.replace("\n", " ")))
        log("\n[greedy] %s" % text)
        for k in range(2):
            snew, _ = continue_ids(ref, ids, 48, device, eos_id=eot_id, sample=True, gen=sgen)
            log("[sample %d] %s" % (k + 1, tok.decode(ids + snew, skip_special_tokens=True)))
        if hf_check is None:
            try:
                x = torch.tensor([ids], dtype=torch.long, device=device)
                g = ref.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                                 max_new_tokens=48, eos_token_id=eot_id, pad_token_id=pad_id)
                hf_new = [int(t) for t in g[0, len(ids):] if int(t) != pad_id]
                if hf_new and hf_new[-1] == eot_id:
                    hf_new = hf_new[:-1]
                hf_check = hf_new == new
                log("[generate() greedy %s the loop above]" % ("matches" if hf_check else "DIFFERS from"))
            except Exception as e:  # informational only
                hf_check = False
                log("[generate() check failed: %r]" % (e,))
    log("")
    check_hf_tokenizer(out, tok)

    corpus_source = ""
    src = args.corpus + ".source"
    if os.path.exists(src):
        with open(src, encoding="utf-8") as f:
            for line in f:
                if line.startswith("text package:"):
                    parts = line.split()
                    if len(parts) >= 4:
                        corpus_source = " (version %s)" % parts[3]
    info = dict(
        params=n_params, params_m=n_params / 1e6, weights_mb=weight_bytes / 1e6, vocab_size=vocab_size,
        eot_id=eot_id, pad_id=pad_id, corpus_source=corpus_source, corpus_bytes=corpus_bytes, n_verses=len(verses),
        corpus_sha256=corpus_sha256, n_train=len(train_v), n_dev=len(dev_v), n_test=len(test_v),
        train_tokens=int(train_stream.numel()), test_tokens=int(test_stream.numel()), device_name=device_name,
        train_minutes=train_s / 60, stop_reason=stop_reason, steps=step, batch_size=batch_size, seq_len=T,
        tokens_seen=step * tokens_per_step, epochs=step / steps_per_epoch, weight_decay=args.weight_decay,
        lr=args.lr, warmup_steps=warmup, min_lr_ratio=args.min_lr_ratio, dropout=args.dropout,
        best_step=best_step, best_epoch=best_step / steps_per_epoch, best_dev_nll=best_nll, test_ppl=test_ppl, test_nll=test_nll,
        test_windows=int(test_wins.size(0)), ref_nll=ref_nll, ref_ppl=math.exp(ref_nll), command=repro_command(args),
        precision="bf16 autocast, float32 master weights" if device.type == "cuda" else "float32 throughout",
        greedy_samples=greedy_samples)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(model_card(info))

    log("wrote %s:" % out)
    for name in sorted(os.listdir(out)):
        log("  %-28s %10d bytes" % (name, os.path.getsize(os.path.join(out, name))))
    log("summary: %d params, %d steps (%.2f epochs) in %.1f min on %s; test ppl %.3f; reference ppl %.4f; "
        "total %.1f min" % (n_params, step, step / steps_per_epoch, train_s / 60, device_name, test_ppl,
                            math.exp(ref_nll), (time.time() - t_start) / 60))
    log("generated at %s" % datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


if __name__ == "__main__":
    main()
