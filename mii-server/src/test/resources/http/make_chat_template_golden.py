"""Renders the chat templates of chat_template_cases.json with Python's jinja2 set up as transformers'
apply_chat_template sets it up, and writes the outputs (or raise_exception messages) back as the
expected values that ChatTemplateGoldenTest compares jinjava's rendering with.

    python3 make_chat_template_golden.py    # jinja2 3.1
"""
import json
import pathlib

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = pathlib.Path(__file__).parent
PATH = HERE / "chat_template_cases.json"


class TemplateRaised(Exception):
    pass


def raise_exception(message):
    raise TemplateRaised(message)


def main():
    data = json.loads(PATH.read_text())
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    for case in data["cases"]:
        template = env.from_string(data["templates"][case["template"]])
        try:
            case["expected"] = template.render(messages=case["messages"], add_generation_prompt=True,
                                               bos_token="<s>", eos_token="</s>")
            case.pop("error", None)
        except TemplateRaised as e:
            case["error"] = str(e)
            case.pop("expected", None)
    data["generated_by"] = "make_chat_template_golden.py with jinja2 " + jinja2.__version__
    PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
