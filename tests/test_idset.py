"""IdSet against Python's own set: the same answers, in a fraction of the memory."""

from __future__ import annotations

import random
import subprocess
import sys

from foundry.idset import IdSet


def test_membership_and_length_match_a_set_across_merges():
    rng = random.Random(7)
    ids = [f"task-{rng.getrandbits(40):x}" for _ in range(200_000)]  # several merges of the recent hashes
    members, reference = IdSet(), set()
    for item in ids[:150_000]:
        members.add(item)
        reference.add(item)
    members.update(ids[:1000])  # re-adding changes nothing
    assert len(members) == len(reference)
    assert all(item in members for item in ids[:150_000:37])
    assert not any(item in members for item in set(ids[150_000:]) - reference)
    assert members == reference and members != reference | {"one-more"}


def test_eight_bytes_an_id_once_merged():
    members = IdSet(f"t{i}" for i in range(1_000_000))
    assert len(members) == 1_000_000
    assert members.nbytes() <= 10 * 1_000_000  # a set[str] of these: ~100 bytes an id


def test_empty():
    assert "x" not in IdSet() and len(IdSet()) == 0 and IdSet() == set()


def test_hashes_are_per_process_so_the_set_is_rebuilt_not_stored():
    """Python's string hash is salted per process: the reason IdSet is never written anywhere."""
    code = "print(hash('task-1'))"
    seen = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(seen) == 2
