#!/usr/bin/env python3
"""Builds the tiny fixed-weight models the test suite runs, and their references from transformers.

usage: make_fixtures.py CORPUS_JSON OUT_DIR [NAME...]

For each architecture MII-J supports this writes OUT_DIR/NAME/ as a Hugging Face model folder
(config.json, safetensors, tokenizer.json, tokenizer_config.json, generation_config.json) plus
reference.json: for each prompt its token ids, the FP32 logits of the prompt's last position, and
a greedy continuation with the top-1/top-2 logit margin of every step, all computed by
transformers in FP32 with eager attention (SDPA where ATTENTION says) and no KV cache (a full forward
per step).
"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoModelForCausalLM

corpus_path, out_dir = sys.argv[1:3]
ONLY = set(sys.argv[3:])
os.makedirs(out_dir, exist_ok=True)
torch.manual_seed(0)

ENGLISH = """In the beginning was the word, and the word was with the people who spoke it.
The quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun.
Language models read text as tokens, predict the next token, and repeat until they stop.
def add(a, b):
    return a + b
""" * 20


def make_tokenizer(vocab_size=512):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = json.load(open(corpus_path, encoding="utf-8")) + ENGLISH.split("\n")
    tok.train_from_iterator(texts, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    return tok


tokenizer = make_tokenizer()
VOCAB = tokenizer.get_vocab_size()
BOS, EOS = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
PROMPTS = ["The quick brown fox", "In the beginning was the word, and the word was with",
           "def add(a, b):\n    return", "Hello"]
NEW_TOKENS = 24

COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, max_position_embeddings=256, bos_token_id=BOS, eos_token_id=EOS,
              rms_norm_eps=1e-5)

FIXTURES = {
    # Llama-3 style: GQA, llama3 rope scaling, untied embeddings, BF16 weights.
    "llama3": ("LlamaConfig", dict(COMMON, num_key_value_heads=2, rope_theta=500000.0, tie_word_embeddings=False,
               rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 64}), torch.bfloat16, None),
    # Llama-2 style with MQA (one KV head) and tied embeddings.
    "llama2": ("LlamaConfig", dict(COMMON, num_key_value_heads=1, rope_theta=10000.0, tie_word_embeddings=True),
               torch.float32, None),
    # Mistral: sliding window shorter than prompt + generation.
    "mistral": ("MistralConfig", dict(COMMON, num_key_value_heads=2, sliding_window=8, rope_theta=10000.0,
                tie_word_embeddings=False), torch.float32, None),
    # Qwen2: q/k/v biases, tied embeddings, F16 weights.
    "qwen2": ("Qwen2Config", dict(COMMON, num_key_value_heads=2, rope_theta=1000000.0, tie_word_embeddings=True),
              torch.float16, None),
    # Qwen3: q/k RMSNorm, explicit head_dim (heads * head_dim != hidden).
    "qwen3": ("Qwen3Config", dict(COMMON, num_key_value_heads=2, head_dim=32, rope_theta=1000000.0,
              tie_word_embeddings=True), torch.float32, None),
    # Phi-3: fused qkv_proj and gate_up_proj, partial rotary.
    "phi3": ("Phi3Config", dict(COMMON, num_key_value_heads=2, rope_theta=10000.0, partial_rotary_factor=0.5,
             tie_word_embeddings=False, pad_token_id=0), torch.float32, None),
    # Mixtral: 4 experts, top-2 routing, sharded safetensors.
    "mixtral": ("MixtralConfig", dict(COMMON, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                rope_theta=1000000.0, tie_word_embeddings=False), torch.float32, "60KB"),
}


# Families beyond Llama's shape: LayerNorm, learned or ALiBi positions, fused and interleaved qkv,
# parallel blocks, non-gated MLPs, shared experts, Gemma's scaled embeddings and soft-capping.
NOBIAS = {k: v for k, v in COMMON.items() if k not in ("rms_norm_eps", "intermediate_size", "hidden_size",
                                                        "num_hidden_layers", "num_attention_heads",
                                                        "max_position_embeddings")}
FIXTURES.update({
    # OPT-125m style: pre-LN, ReLU, learned positions with offset 2, tied embeddings.
    "opt": ("OPTConfig", dict(NOBIAS, hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=256, word_embed_proj_dim=64, do_layer_norm_before=True, pad_token_id=0,
            activation_function="relu"), torch.float32, None),
    # OPT-350m style: post-LN, embeddings of width 32 projected in and out.
    "opt350": ("OPTConfig", dict(NOBIAS, hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
               max_position_embeddings=256, word_embed_proj_dim=32, do_layer_norm_before=False, pad_token_id=0,
               activation_function="relu"), torch.float32, None),
    # Phi-2: parallel attention + MLP from one LayerNorm, partial rotary, biases everywhere, lm_head bias.
    "phi": ("PhiConfig", dict(COMMON, num_key_value_heads=4, partial_rotary_factor=0.5, hidden_act="gelu_new",
            layer_norm_eps=1e-5, tie_word_embeddings=False, qk_layernorm=False), torch.float32, None),
    # Pythia: fused per-head interleaved qkv, rotary on a quarter of each head, parallel residual.
    "gpt_neox": ("GPTNeoXConfig", dict(NOBIAS, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, max_position_embeddings=256, rotary_pct=0.25, partial_rotary_factor=0.25,
                 use_parallel_residual=True, hidden_act="gelu", layer_norm_eps=1e-5, tie_word_embeddings=False),
                 torch.float32, None),
    # GPT-NeoX without the parallel residual (sequential blocks, two LayerNorms).
    "gpt_neox_seq": ("GPTNeoXConfig", dict(NOBIAS, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=256, rotary_pct=0.5, partial_rotary_factor=0.5,
                     use_parallel_residual=False, hidden_act="gelu", layer_norm_eps=1e-5,
                     tie_word_embeddings=False), torch.float32, None),
    # Falcon-7b style: multi-query fused qkv, parallel attention + MLP, no linear biases.
    "falcon": ("FalconConfig", dict(NOBIAS, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
               max_position_embeddings=256, multi_query=True, parallel_attn=True, new_decoder_architecture=False,
               bias=False, alibi=False, layer_norm_epsilon=1e-5), torch.float32, None),
    # Falcon-40b/180b style: grouped qkv layout (2 KV heads), separate attention and MLP LayerNorms.
    "falcon40b": ("FalconConfig", dict(NOBIAS, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_kv_heads=2, max_position_embeddings=256, new_decoder_architecture=True, bias=False, alibi=False,
                  layer_norm_epsilon=1e-5), torch.float32, None),
    # Falcon2-11b style: grouped qkv layout with one LayerNorm feeding attention and MLP.
    "falcon2": ("FalconConfig", dict(NOBIAS, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_kv_heads=2, max_position_embeddings=256, new_decoder_architecture=True,
                num_ln_in_parallel_attn=1, bias=False, alibi=False, layer_norm_epsilon=1e-5), torch.float32, None),
    # Falcon-RW style: ALiBi, per-head interleaved qkv, sequential blocks, biases.
    "falcon_rw": ("FalconConfig", dict(NOBIAS, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  max_position_embeddings=256, multi_query=False, parallel_attn=False, new_decoder_architecture=False,
                  bias=True, alibi=True, layer_norm_epsilon=1e-5), torch.float32, None),
    # GPT-2: Conv1D (transposed) weights, learned positions, GELU-tanh, F16 weights.
    "gpt2": ("GPT2Config", dict(NOBIAS, n_embd=64, n_layer=2, n_head=4, n_positions=256, n_inner=128,
             activation_function="gelu_new", layer_norm_epsilon=1e-5), torch.float16, None),
    # BLOOM: ALiBi, embedding LayerNorm, per-head interleaved qkv, BF16 weights.
    "bloom": ("BloomConfig", dict(NOBIAS, hidden_size=64, n_layer=2, n_head=4, layer_norm_epsilon=1e-5),
              torch.bfloat16, None),
    # Qwen1.5-MoE: 4 experts top-2 without renormalisation, a shared expert behind a sigmoid gate,
    # layer 1 dense (mlp_only_layers).
    "qwen2_moe": ("Qwen2MoeConfig", dict(COMMON, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                  moe_intermediate_size=32, shared_expert_intermediate_size=64, norm_topk_prob=False,
                  decoder_sparse_step=1, mlp_only_layers=[1], rope_theta=1000000.0, tie_word_embeddings=False),
                  torch.float32, None),
    # Qwen3-MoE: q/k norms, renormalised top-2 of 4 experts.
    "qwen3_moe": ("Qwen3MoeConfig", dict(COMMON, num_key_value_heads=2, head_dim=32, num_experts=4,
                  num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, decoder_sparse_step=1,
                  mlp_only_layers=[], rope_theta=1000000.0, tie_word_embeddings=False), torch.float32, None),
    # Gemma: scaled embeddings, (1 + w) RMSNorm, GELU-tanh gate, MQA, head_dim 32 with hidden 64.
    "gemma": ("GemmaConfig", dict(COMMON, num_key_value_heads=1, head_dim=32, hidden_activation="gelu_pytorch_tanh",
              rope_theta=10000.0, tie_word_embeddings=True), torch.float32, None),
    # Gemma 2: sandwich norms, sliding window on alternate layers, attention and final soft-capping,
    # query_pre_attn_scalar.
    "gemma2": ("Gemma2Config", dict(COMMON, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=24,
               hidden_activation="gelu_pytorch_tanh", sliding_window=8, final_logit_softcapping=30.0,
               attn_logit_softcapping=50.0, layer_types=["sliding_attention", "full_attention"],
               rope_theta=10000.0, tie_word_embeddings=True), torch.float32, None),
    # Gemma 3 text: q/k norms, local layers with their own RoPE base, global layers with linear scaling.
    "gemma3": ("Gemma3TextConfig", dict(COMMON, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
               hidden_activation="gelu_pytorch_tanh", sliding_window=8,
               layer_types=["sliding_attention", "full_attention"], rope_theta=1000000.0,
               rope_local_base_freq=10000.0, rope_scaling={"rope_type": "linear", "factor": 8.0},
               tie_word_embeddings=True), torch.float32, None),
})


# Attention implementation of the reference where eager is not what users run: Falcon's eager path
# adds ALiBi twice (once to the scores, once through the mask); SDPA, its default, adds it once.
ATTENTION = {"falcon_rw": "sdpa"}


def randomize(model):
    """Larger-than-default random weights so that logits are peaked and greedy choices are robust."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or ".ln_" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def greedy(model, ids):
    ids = list(ids)
    out, margins, first_logits = [], [], None
    with torch.no_grad():
        for step in range(NEW_TOKENS):
            logits = model(torch.tensor([ids])).logits[0, -1].double()
            if step == 0:
                first_logits = logits.float().tolist()
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            nxt = int(top.indices[0])
            out.append(nxt)
            ids.append(nxt)
    return out, margins, first_logits


def build(name, cfg_class, cfg_args, dtype, shard):
    cfg = getattr(transformers, cfg_class)(**cfg_args)
    attn = ATTENTION.get(name, "eager")
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn).float()
    randomize(model)
    folder = os.path.join(out_dir, name)
    kwargs = {"max_shard_size": shard} if shard else {}
    model.to(dtype).save_pretrained(folder, **kwargs)
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": True,
               "model_max_length": 256, "tokenizer_class": "PreTrainedTokenizerFast"},
              open(os.path.join(folder, "tokenizer_config.json"), "w"), indent=1)
    # Reload from disk in FP32, exactly as a user of transformers would.
    ref_model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn).eval()
    cases = []
    for text in PROMPTS:
        ids = tokenizer.encode(text).ids
        tokens, margins, first_logits = greedy(ref_model, ids)
        cases.append({"prompt": text, "prompt_ids": ids, "greedy_ids": tokens, "margins": margins,
                      "greedy_text": tokenizer.decode(tokens, skip_special_tokens=True),
                      "first_logits": first_logits})
    json.dump({"transformers_version": transformers.__version__, "torch_version": torch.__version__,
               "model_type": cfg.model_type, "dtype": str(dtype), "cases": cases},
              open(os.path.join(folder, "reference.json"), "w"))
    print(name, "ok", [min(c["margins"]) for c in cases])


failed = []
for name, spec in FIXTURES.items():
    if ONLY and name not in ONLY:
        continue
    try:
        build(name, *spec)
    except Exception:  # keep going: one broken fixture should not cost the others
        import traceback
        traceback.print_exc()
        failed.append(name)
print("failed:", failed)
