"""Quality gates: decontamination recall / false positives and dedup F1 and throughput, with anchors in the same run.

Decontamination set (built here from the GSM8K test split in benchmarks/data, MIT): the first half of the items is
the benchmark; positives are those items verbatim, wrapped in other text, with numbers changed, sentences
reordered, names swapped, and "rephrased" (a synonym map plus changed numbers and names: crude, automatic); negatives
are the other half (never indexed), some of them followed by their worked solution (a completion-like text about a
problem of the same kind), and long unrelated texts quoting 14 words of an indexed item. The anchor is
lm-eval's decontamination rule (any shared 13-gram), implemented below.

Dedup set: random texts from a Zipf vocabulary, a third of them followed later by an edited copy (a known number of
words replaced); the truth is the exact Jaccard of 5-word shingles with its source (>= threshold). The anchor is
datasketch used directly (MinHashLSH at the threshold, confirmed by MinHash.jaccard).

    .venv/bin/python benchmarks/quality_gates.py [--rows 10000] [--embedding-rows 1000] [--only throughput]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from foundry.quality.benchmarks import load_benchmark  # noqa: E402
from foundry.quality.decontaminate import Decontaminator  # noqa: E402
from foundry.quality.dedup import Deduplicator  # noqa: E402
from foundry.quality.embedding import Embedder  # noqa: E402
from foundry.quality.judge import ItemJudge  # noqa: E402
from foundry.quality.text import normalize  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "gsm8k-test.jsonl"
FILLER = ("The committee met again on Thursday to discuss the new library opening hours and the budget for the "
          "coming year. Several members asked for more evening events, while others wanted the reading room "
          "renovated first. After a long debate they agreed to publish a survey and decide next month. ").split()
SYNONYMS = {"how many": "what number of", "how much": "what amount of", "buys": "purchases", "bought": "purchased",
            "each": "every", "total": "overall", "wants": "would like", "gives": "hands", "makes": "earns",
            "costs": "is priced at", "then": "after that", "if": "given that", "spends": "uses", "needs": "requires",
            "has": "owns", "takes": "needs", "sells": "sells off", "day": "daily period", "per": "for every",
            "want": "would like", "after": "once", "times": "fold", "more": "additional", "money": "cash"}
NAMES = ["Priya", "Tomasz", "Aiko", "Mateo", "Zainab", "Lars", "Imani", "Dmitri", "Soledad", "Kwame"]
NOT_NAMES = {"How", "What", "If", "He", "She", "They", "The", "A", "In", "On", "At", "Each", "Every", "It", "His",
             "Her", "Then", "There", "This", "After", "For", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
             "Saturday", "Sunday", "I", "When", "Of", "To", "But", "And", "So", "One", "Two", "Three", "An", "We"}


# ---- anchors -------------------------------------------------------------------------------------------------
class AnyThirteenGram:
    """lm-eval's rule: contaminated if the text shares any 13-gram (of normalized words) with a benchmark item."""

    def __init__(self, texts: list[str], n: int = 13):
        self.n = n
        self.grams = {g for t in texts for g in self._grams(t)}

    def _grams(self, text: str) -> set[tuple[str, ...]]:
        words = normalize(text).split()
        return {tuple(words[i : i + self.n]) for i in range(len(words) - self.n + 1)}

    def check(self, text: str) -> bool:
        return not self.grams.isdisjoint(self._grams(text))


class KnownAnswerJudge:
    """A judge that knows which text restates which item (the benchmark built them): the recall a judge as good as
    the anchors' (GPT-4 in LMSYS's decontaminator) would give, and how many calls the gray zone costs. With
    `always=True` it says "same" to every pair: the false positives a judge that never says no would add."""

    def __init__(self, truth: dict[str, str], always: bool = False):
        self.truth, self.always, self.model = truth, always, "known-answers"

    def complete(self, messages, json_schema, regex, max_tokens, temperature) -> str:
        item, text = messages[-1]["content"].split("\n\nText:\n")
        text = text.rsplit("\n\nAnswer {", 1)[0]
        same = self.always or self.truth.get(text) == item.removeprefix("Benchmark problem:\n")
        return json.dumps({"same": same}).replace(":", ": ")


# ---- perturbations -------------------------------------------------------------------------------------------
def change_numbers(text: str, rng: random.Random) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), text)


def reorder(text: str, rng: random.Random) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    body, last = sentences[:-1], sentences[-1:]
    if len(body) > 1:
        for _ in range(5):
            shuffled = body[:]
            rng.shuffle(shuffled)
            if shuffled != body:
                break
        body = shuffled
    return " ".join(body + last)


def swap_names(text: str, rng: random.Random) -> str:
    found = [w for w in dict.fromkeys(re.findall(r"\b[A-Z][a-z]+\b", text)) if w not in NOT_NAMES]
    mapping = dict(zip(found, rng.sample(NAMES, min(len(found), len(NAMES)))))
    return re.sub(r"\b[A-Z][a-z]+\b", lambda m: mapping.get(m.group(), m.group()), text)


def rephrase(text: str, rng: random.Random) -> str:
    for old, new in SYNONYMS.items():
        text = re.sub(rf"\b{old}\b", new, text, flags=re.IGNORECASE)
    return swap_names(change_numbers(text, rng), rng)


def wrap(text: str, rng: random.Random) -> str:
    start = rng.randint(0, 20)
    return " ".join(FILLER[start : start + 25]) + " Here is the task: " + text + " " + " ".join(FILLER[:30])


def quoting(text: str, rng: random.Random) -> str:
    words = text.split()
    start = rng.randint(0, max(0, len(words) - 14))
    return " ".join(FILLER * 2) + " As the note said, " + " ".join(words[start : start + 14]) + ". " + " ".join(FILLER)


# ---- decontamination -----------------------------------------------------------------------------------------
def decontamination_set(positives_per_kind: int, seed: int) -> tuple[list, dict, dict]:
    """The indexed items; positives by kind as (text, item id); negatives by kind as texts."""
    rng = random.Random(seed)
    items = load_benchmark("gsm8k", str(DATA), "question", "answer", where="benchmark")
    indexed, held_out = items[: len(items) // 2], items[len(items) // 2 :]
    kinds = {"exact": lambda t, r: t, "wrapped": wrap, "numbers": change_numbers, "reordered": reorder,
             "names": swap_names, "rephrased": rephrase}
    chosen = rng.sample(indexed, positives_per_kind)
    positives = {k: [(f(i.text, rng), i.item_id) for i in chosen] for k, f in kinds.items()}
    long_items = [i for i in indexed if len(i.text.split()) >= 30]
    negatives = {"held_out": [i.text for i in held_out],
                 "held_out_with_solution": [f"{i.text} {i.answer}" for i in rng.sample(held_out, 200)],
                 "quoting_14_words": [quoting(i.text, rng) for i in rng.sample(long_items, 200)]}
    return indexed, positives, negatives


def decontamination(embedder: Embedder, positives_per_kind: int, seed: int, min_cosine: float,
                    min_closeness: float) -> dict:
    indexed, positives, negatives = decontamination_set(positives_per_kind, seed)
    held_out = negatives["held_out"]

    started = time.perf_counter()
    ours = Decontaminator(indexed, embedder=embedder)
    build_seconds = time.perf_counter() - started
    baseline = AnyThirteenGram([i.text for i in indexed])
    methods = {"lm_eval_any_13gram": lambda texts: [baseline.check(t) for t in texts],
               "ngram_coverage": lambda texts: [ours._ngram(t) is not None for t in texts],
               "ngram_then_embedding": lambda texts: [f is not None for f in ours.check_many(texts)]}
    report: dict = {"indexed_items": len(indexed), "held_out_items": len(held_out), "index_build_seconds":
                    round(build_seconds, 2), "positives_per_kind": positives_per_kind}
    for name, method in methods.items():
        recall = {k: sum(method([t for t, _ in v])) / len(v) for k, v in positives.items()}
        false_pos = {k: sum(method(v)) / len(v) for k, v in negatives.items()}
        tp = sum(recall[k] * len(positives[k]) for k in positives)
        fp = sum(false_pos[k] * len(negatives[k]) for k in negatives)
        report[name] = {"recall": {k: round(v, 4) for k, v in recall.items()},
                        "false_positive_rate": {k: round(v, 4) for k, v in false_pos.items()},
                        "precision": round(tp / (tp + fp), 4) if tp + fp else None}
    findings = ours.check_many([t for v in positives.values() for t, _ in v])
    truth = [item for v in positives.values() for _, item in v]
    report["ngram_then_embedding"]["right_item"] = round(
        sum(f is not None and f.item_id == t for f, t in zip(findings, truth)) / len(truth), 4)
    methods = Counter(f.method for f in findings if f is not None)
    report["ngram_then_embedding"]["positives_by_method"] = {k: round(v / len(findings), 4)
                                                             for k, v in sorted(methods.items())}
    texts = {"positives": [t for v in positives.values() for t, _ in v], "negatives": sum(negatives.values(), [])}
    by_id = {i.item_id: i.text for i in indexed}
    truth = {t: by_id[item] for v in positives.values() for t, item in v}
    for name, always in (("then_judge_known_answers", False), ("then_judge_always_same", True)):
        ours.judge = ItemJudge(KnownAnswerJudge(truth, always), min_cosine, min_closeness)
        calls = {}
        for kind, group in [*positives.items(), *negatives.items()]:
            before = ours.judge.counts.calls
            hits = [f is not None for f in ours.check_many([t if isinstance(t, str) else t[0] for t in group])]
            calls[kind] = ours.judge.counts.calls - before
            report.setdefault(name, {"recall": {}, "false_positive_rate": {}})[
                "recall" if kind in positives else "false_positive_rate"][kind] = round(sum(hits) / len(hits), 4)
        items = len(texts["positives"]) + len(texts["negatives"])
        report[name]["judge_calls"] = {"total": ours.judge.counts.calls,
                                       "share_of_items": round(ours.judge.counts.calls / items, 4),
                                       "share_of_negatives": round(sum(calls[k] for k in negatives) /
                                                                   len(texts["negatives"]), 4),
                                       "by_kind": calls}
    report["judge_gray_zone"] = {"min_cosine": min_cosine, "min_closeness": min_closeness}
    return report


def decontamination_throughput(embedder: Embedder, rows: int, embedding_rows: int, seed: int) -> dict:
    """Rows/s on completion-like texts (GSM8K worked answers, ~50-150 words) against the full GSM8K test set."""
    rng = random.Random(seed)
    items = load_benchmark("gsm8k", str(DATA), "question", "answer", where="benchmark")
    texts = [rng.choice(FILLER) + " " + i.answer for i in rng.choices(items, k=rows)]
    ngram_only, full = Decontaminator(items), Decontaminator(items, embedder=embedder)
    baseline = AnyThirteenGram([i.text for i in items] + [i.answer for i in items])
    out = {}
    for name, run, sample in (("lm_eval_any_13gram", lambda ts: [baseline.check(t) for t in ts], texts),
                              ("ngram_coverage", lambda ts: [ngram_only.check(t) for t in ts], texts),
                              ("ngram_then_embedding_clean_rows", full.embedding.best_many,
                               [rng.choice(FILLER) + " " + " ".join(rng.choices(FILLER, k=60))
                                for _ in range(embedding_rows)])):
        started = time.perf_counter()
        run(sample)
        out[name] = {"rows": len(sample), "rows_per_second": round(len(sample) / (time.perf_counter() - started), 1)}
    return out


def sample_gates_throughput(rows: int, seed: int, repeats: int = 3) -> dict:
    """Both sample gates as the executor calls them (`_apply_sample_gates`: each gate's `check_many` on a task's
    samples still accepted, here tasks of 4; n-gram decontamination against the full GSM8K test set, then near
    dedup; a commit every 16 tasks), on the dedup set's texts. Gated samples are committed as given (accepted), so
    a rejected copy is an earlier copy too, as in the first version of this figure, which called `check` one sample
    at a time (same decisions, a little more call overhead). Run `repeats` times on fresh gates (this machine's rate
    varies by about 20 % between runs): each rate and their median."""
    import statistics

    items = load_benchmark("gsm8k", str(DATA), "question", "answer", where="benchmark")
    texts, _ = dedup_set(rows, seed)  # clean of GSM8K, a third of them near copies of earlier ones
    rates, rejections = [], set()
    for _ in range(repeats):
        rejected, seconds = _timed_gates(items, texts)
        rates.append(round(rows / seconds, 1))
        rejections.add(rejected)
    split: dict[str, list[float]] = {"screen": [], "driver": []}
    for _ in range(repeats):
        rejected, screen_seconds, driver_seconds = _timed_screened(items, texts)
        split["screen"].append(round(rows / screen_seconds, 1))
        split["driver"].append(round(rows / driver_seconds, 1))
        rejections.add(rejected)
    return {"rows": rows, "rejected": sorted(rejections), "rows_per_second": statistics.median(rates),
            "runs": rates, "as_a_campaign_splits_them": {
                "screen_rows_per_second_per_core": statistics.median(split["screen"]),
                "driver_rows_per_second": statistics.median(split["driver"]), "runs": split},
            "resume_rebuild_rows_per_second": _timed_resume(texts)}


def _timed_resume(texts: list[str]) -> dict:
    """A resumed run teaching the dedup gate its committed accepted rows: from the shard's `fingerprint` column,
    and from the completions (shards written before the column, or fingerprints made with other settings)."""
    from foundry.quality.gates import SampleDedupGate

    settings = Deduplicator("near", 0.8)
    rows = [{"id": f"s{n}", "completion": text, "accepted": True,
             "fingerprint": settings.to_bytes(settings.fingerprint(text))} for n, text in enumerate(texts)]
    out = {}
    for name, given in (("from_fingerprints", rows), ("from_texts", [{**r, "fingerprint": None} for r in rows])):
        gate = SampleDedupGate(Deduplicator("near", 0.8))
        started = time.perf_counter()
        gate.committed(given)
        out[name] = round(len(given) / (time.perf_counter() - started), 1)
    return out


def _timed_screened(items: list, texts: list[str]) -> tuple[int, float, float]:
    """The same work split as a campaign splits it: the screen (n-gram decontamination, fingerprint as bytes) where
    samples are verified, then, on the driver, the dedup gate on the fingerprints the samples carry."""
    from foundry.quality.gates import SampleDedupGate
    from foundry.quality.screen import SampleScreen
    from foundry.types import Sample

    screen, gate = SampleScreen(Decontaminator(items), Deduplicator("near", 0.8)), SampleDedupGate(
        Deduplicator("near", 0.8))
    samples = [Sample(id=f"s{n}", task_id=f"t{n // 4}", sample_index=n % 4, accepted=True, completion=text)
               for n, text in enumerate(texts)]
    started = time.perf_counter()
    screened = [(sample, screen.screen(sample)) for sample in samples]
    screen_seconds = time.perf_counter() - started
    kept = [sample.model_copy(update={"fingerprint": found.fingerprint}) for sample, found in screened
            if found.verdict is None]
    rejected = len(samples) - len(kept)
    tasks = [kept[start : start + 4] for start in range(0, len(kept), 4)]
    started, batch = time.perf_counter(), []
    for task in tasks:
        rejected += sum(verdict is not None for verdict in gate.check_many(task))
        batch += task
        if len(batch) >= 64:
            gate.committed(batch)
            batch = []
    return rejected, screen_seconds, time.perf_counter() - started


def _timed_gates(items: list, texts: list[str]) -> tuple[int, float]:
    from foundry.quality.gates import SampleDecontaminationGate, SampleDedupGate
    from foundry.types import Sample

    gates = [SampleDecontaminationGate(Decontaminator(items)), SampleDedupGate(Deduplicator("near", 0.8))]
    samples = [Sample(id=f"s{n}", task_id=f"t{n // 4}", sample_index=n % 4, accepted=True, completion=text)
               for n, text in enumerate(texts)]
    tasks = [samples[start : start + 4] for start in range(0, len(samples), 4)]
    started, rejected, batch = time.perf_counter(), 0, []
    for task in tasks:
        open_ = list(range(len(task)))
        for gate in gates:
            verdicts = gate.check_many([task[i] for i in open_]) if open_ else []
            open_ = [i for i, verdict in zip(open_, verdicts) if verdict is None]
        rejected += len(task) - len(open_)
        batch += task
        if len(batch) >= 64:
            gates[1].committed(batch)
            batch = []
    return rejected, time.perf_counter() - started


# ---- dedup ---------------------------------------------------------------------------------------------------
def dedup_set(rows: int, seed: int) -> tuple[list[str], list[bool]]:
    """Random texts and edited copies; truth[i]: text i has an earlier source with shingle Jaccard >= 0.8."""
    rng = random.Random(seed)
    vocabulary = [f"v{i}" for i in range(5000)]
    weights = [1 / (i + 1) for i in range(5000)]
    texts, truth, originals = [], [], []
    while len(texts) < rows:
        if originals and rng.random() < 1 / 3:
            source = rng.choice(originals).split()
            copy = source[:]
            for position in rng.sample(range(len(copy)), rng.randint(0, max(1, len(copy) // 8))):
                copy[position] = rng.choice(vocabulary)
            texts.append(" ".join(copy))
            truth.append(_jaccard(source, copy) >= 0.8)
        else:
            text = " ".join(rng.choices(vocabulary, weights, k=rng.randint(40, 160)))
            originals.append(text)
            texts.append(text)
            truth.append(False)
    return texts, truth


def _jaccard(a: list[str], b: list[str], size: int = 5) -> float:
    x = {tuple(a[i : i + size]) for i in range(len(a) - size + 1)}
    y = {tuple(b[i : i + size]) for i in range(len(b) - size + 1)}
    return len(x & y) / len(x | y)


def datasketch_reference(texts: list[str], threshold: float) -> list[bool]:
    from datasketch import MinHash, MinHashLSH

    lsh, kept, flags = MinHashLSH(threshold=threshold, num_perm=128), {}, []
    for number, text in enumerate(texts):
        words = normalize(text).split()
        m = MinHash(num_perm=128)
        m.update_batch({" ".join(words[i : i + 5]).encode() for i in range(len(words) - 4)})
        hit = any(m.jaccard(kept[k]) >= threshold for k in lsh.query(m))
        flags.append(hit)
        if not hit:
            lsh.insert(str(number), m)
            kept[str(number)] = m
    return flags


def f1(predicted: list[bool], truth: list[bool]) -> dict:
    tp = sum(p and t for p, t in zip(predicted, truth))
    fp = sum(p and not t for p, t in zip(predicted, truth))
    fn = sum(t and not p for p, t in zip(predicted, truth))
    precision, recall = tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0
    return {"precision": round(precision, 4), "recall": round(recall, 4),
            "f1": round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0}


def dedup(rows: int, seed: int, threshold: float = 0.8) -> dict:
    texts, truth = dedup_set(rows, seed)
    out = {"rows": rows, "true_duplicates": sum(truth)}
    started = time.perf_counter()
    reference = datasketch_reference(texts, threshold)
    out["datasketch_direct"] = {**f1(reference, truth), "rows_per_second": round(rows / (time.perf_counter() -
                                                                                         started), 1)}
    for mode in ("near", "exact"):
        index = Deduplicator(mode, threshold)
        started = time.perf_counter()
        ours = [index.check_and_add(str(n), t) is not None for n, t in enumerate(texts)]
        out[f"foundry_{mode}"] = {**f1(ours, truth), "rows_per_second": round(rows / (time.perf_counter() -
                                                                                      started), 1)}
        if mode == "near":
            out["foundry_near"]["agreement_with_datasketch"] = round(
                sum(a == b for a, b in zip(ours, reference)) / rows, 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for throughput and the dedup set")
    parser.add_argument("--embedding-rows", type=int, default=1000, help="rows for the embedding stage's throughput")
    parser.add_argument("--positives", type=int, default=200, help="benchmark items per perturbation kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-cosine", type=float, default=0.5, help="the judge's gray zone (config defaults)")
    parser.add_argument("--min-closeness", type=float, default=1.125)
    parser.add_argument("--only", choices=["decontamination", "throughput"],
                        help="one part: decontamination recall, or the sample gates' throughput (no embedder)")
    args = parser.parse_args()
    if args.only == "throughput":
        print(json.dumps({"sample_gates_together": sample_gates_throughput(args.rows, args.seed)}, indent=1))
        return
    import torch

    torch.set_num_threads(1)  # figures per core
    embedder = Embedder()
    embedder.encode(["warm up"])
    if args.only == "decontamination":
        print(json.dumps(decontamination(embedder, args.positives, args.seed, args.min_cosine, args.min_closeness),
                         indent=1))
        return
    result = {"decontamination": decontamination(embedder, args.positives, args.seed, args.min_cosine,
                                                 args.min_closeness),
              "decontamination_throughput": decontamination_throughput(embedder, args.rows, args.embedding_rows,
                                                                       args.seed),
              "dedup": dedup(args.rows, args.seed),
              "sample_gates_together": sample_gates_throughput(args.rows, args.seed)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
