"""transformers' BF16 greedy continuations of the core's fixture models on a CUDA GPU.

Writes the JSON that CudaFixtureModelsTest compares the CUDA backend with: for every fixture and
case, the greedy token ids and each step's top-1/top-2 logit margin, computed by transformers with
BF16 weights on the GPU, with eager attention (SDPA where tools/reference/make_fixtures.py's
ATTENTION says), a full forward per step as the FP32 references were made.

A fixture that fails to load or run is reported and left out of the JSON; the others are still
written (the Java test skips the BF16 comparison of fixtures the JSON lacks). The exit status is 1
when any fixture failed.

usage: python3 bf16_greedy.py mii-core/src/test/resources/fixtures OUT.json [NAME...]
"""
import json
import sys
import traceback

import torch
import transformers
from transformers import AutoModelForCausalLM

NAMES = ["llama3", "llama2", "mistral", "qwen2", "qwen3", "phi3", "mixtral",
         "opt", "opt350", "phi", "gpt_neox", "gpt_neox_seq", "falcon", "falcon40b", "gpt2", "qwen2_moe", "qwen3_moe",
         "gemma", "gemma2", "gemma3", "bloom", "falcon_rw", "falcon2"]

# As in make_fixtures.py: Falcon's eager path adds ALiBi twice (to the scores and through the mask);
# SDPA, its default, adds it once.
ATTENTION = {"falcon_rw": "sdpa"}


def run_fixture(root, name):
    ref = json.load(open(f"{root}/{name}/reference.json"))
    model = AutoModelForCausalLM.from_pretrained(f"{root}/{name}", dtype=torch.bfloat16, trust_remote_code=False,
                                                 attn_implementation=ATTENTION.get(name, "eager")).cuda().eval()
    cases = []
    for case in ref["cases"]:
        ids = list(case["prompt_ids"])
        tokens, margins = [], []
        with torch.no_grad():
            for _ in range(len(case["greedy_ids"])):
                logits = model(torch.tensor([ids], device="cuda")).logits[0, -1].float()
                top = torch.topk(logits, 2)
                token = int(top.indices[0])
                tokens.append(token)
                margins.append(float(top.values[0] - top.values[1]))
                ids.append(token)
        cases.append({"prompt_ids": case["prompt_ids"], "greedy_ids": tokens, "margins": margins})
    del model
    torch.cuda.empty_cache()
    return cases


def main(root, out_path, only):
    result = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
              "device": torch.cuda.get_device_name(), "dtype": "torch.bfloat16"}
    failed = []
    for name in only or NAMES:
        try:
            cases = run_fixture(root, name)
        except Exception:  # one broken fixture should not cost the others
            traceback.print_exc()
            print(name, "FAILED", flush=True)
            failed.append(name)
            continue
        result[name] = {"cases": cases}
        print(name, "min margin", min(min(c["margins"]) for c in cases), flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f)
    print("failed:", failed, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
