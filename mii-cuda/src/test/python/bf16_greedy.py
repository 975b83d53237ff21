"""transformers' BF16 greedy continuations of the core's fixture models on a CUDA GPU.

Writes the JSON that CudaFixtureModelsTest compares the CUDA backend with: for every fixture and
case, the greedy token ids and each step's top-1/top-2 logit margin, computed by transformers with
BF16 weights and eager attention on the GPU.

usage: python3 bf16_greedy.py mii-core/src/test/resources/fixtures OUT.json
"""
import json
import sys

import torch
import transformers
from transformers import AutoModelForCausalLM

NAMES = ["llama3", "llama2", "mistral", "qwen2", "qwen3", "phi3", "mixtral"]


def main(root, out_path):
    result = {"transformers_version": transformers.__version__, "torch_version": torch.__version__,
              "device": torch.cuda.get_device_name(), "dtype": "torch.bfloat16"}
    for name in NAMES:
        ref = json.load(open(f"{root}/{name}/reference.json"))
        model = AutoModelForCausalLM.from_pretrained(f"{root}/{name}", dtype=torch.bfloat16,
                                                     attn_implementation="eager").cuda().eval()
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
        result[name] = {"cases": cases}
        print(name, "min margin", min(min(c["margins"]) for c in cases), flush=True)
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
