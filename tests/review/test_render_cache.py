"""The render cache: the same sanitized HTML as rendering on demand, the next items of the queue rendered ahead,
and only the most recent samples kept."""

from __future__ import annotations

from foundry.review.server import RenderCache
from foundry.types import Sample


def samples(count: int) -> dict[str, Sample]:
    return {f"s{i}": Sample(id=f"s{i}", task_id=f"t{i}", sample_index=0, prompt=f"What is **{i}** + 1?",
                            reasoning=f"1. Take $x_{i}$.\n2. Add <script>alert({i})</script> one.",
                            answer=f"\\boxed{{{i + 1}}}", completion="c") for i in range(count)}


def test_views_match_rendering_on_demand_and_are_sanitized():
    cache = RenderCache(samples(3), ["s0", "s1", "s2"])
    view = cache.get("s1")
    assert view["prompt_html"] == "<p>What is <strong>1</strong> + 1?</p>\n"
    assert [step["text"] for step in view["steps"]] == ["1. Take $x_1$.", "2. Add <script>alert(1)</script> one."]
    assert "<math" in view["steps"][0]["html"] and "<script" not in view["steps"][1]["html"]
    assert cache.get("s1") is view  # the second reviewer of an item gets the stored render


def test_the_next_items_of_the_queue_are_rendered_ahead():
    cache = RenderCache(samples(8), [f"s{i}" for i in range(8)], ahead=3)
    cache.warm_after("s2")
    cache._pool.shutdown(wait=True)
    assert list(cache._done) == ["s3", "s4", "s5"]
    cache.warm_after("not-in-the-queue")  # adjudication items, say: nothing to warm


def test_only_the_most_recent_samples_are_kept():
    cache = RenderCache(samples(5), [], size=2)
    for sample_id in ("s0", "s1", "s2", "s1", "s3"):
        cache.get(sample_id)
    assert list(cache._done) == ["s1", "s3"]
