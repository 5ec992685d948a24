"""Replica placement on a Ray instance with (fake) GPUs: placement groups, bundles, GPU ids, clean-up.

Runs in its own process: Ray accepts fake GPU counts, but one process holds one Ray instance and the session's
shared instance has none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import ray
    from ray.util.placement_group import placement_group_table
    from foundry.cluster.placement import ReplicaLauncher, replica_bundles
    from foundry.config import CampaignConfig

    class Probe:
        def __init__(self, model, engine_args, replica_id):
            pass
        def where(self):
            group = ray.util.get_current_placement_group()
            return {"gpus": [str(g) for g in ray.get_gpu_ids()], "group": group.id.hex() if group else None}

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=3, resources={"h100": 2}, labels={"pool": "gpu"}, include_dashboard=False)

    def campaign(tp, **cluster):
        return CampaignConfig.model_validate({"name": "pl", "source": {"path": "x.jsonl"},
            "output": {"path": "/tmp/x"}, "engine": {"tensor_parallel_size": tp},
            "cluster": {"replica_num_cpus": 0.5, **cluster}})

    report = {}
    launcher = ReplicaLauncher(campaign(2, replica_resources={"h100": 1}), actor_class=Probe)
    actor = launcher.start(0)
    group = launcher.groups[0]
    report["tp2"] = {"where": ray.get(actor.where.remote(), timeout=60), "group": group.id.hex(),
                     "bundles": group.bundle_specs, "strategy": placement_group_table(group)["strategy"]}
    launcher.stop(0, actor)
    report["tp2"]["after_stop"] = placement_group_table(group)["state"]

    launcher = ReplicaLauncher(campaign(1), actor_class=Probe)
    actors = [launcher.start(i) for i in range(3)]
    report["tp1"] = [ray.get(a.where.remote(), timeout=60)["gpus"] for a in actors]
    report["cpu_only_bundles"] = replica_bundles(campaign(1, replica_num_gpus=0))
    for i, a in enumerate(actors):
        launcher.stop(i, a)  # frees the GPUs for the label checks
    for name, labels in (("labels_match", {"pool": "gpu"}), ("labels_differ", {"pool": "cpu"})):
        launcher = ReplicaLauncher(campaign(1, replica_labels=labels), actor_class=Probe)
        actor = launcher.start(0)
        report[name] = launcher.groups[0].wait(timeout_seconds=30 if name == "labels_match" else 3)
        launcher.stop(0, actor)

    from foundry.cluster.runtime import VerifierPool
    for name, labels in (("verifier_match", {"pool": "gpu"}), ("verifier_differ", {"pool": "cpu"})):
        pool = VerifierPool(campaign(1, verifier_labels=labels, verifier_num_cpus=0.1), 1)
        ready, _ = ray.wait([pool.workers[0].versions.remote()], timeout=60 if name == "verifier_match" else 3)
        report[name] = bool(ready)
        pool.shutdown()
    print(json.dumps(report))
""")


def test_replicas_get_their_own_strict_pack_placement_groups(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240,
                            env={"RAY_AUTH_MODE": "disabled", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    tp2 = report["tp2"]
    # two one-GPU bundles packed on one node; the engine actor in bundle 0 holds no GPU itself (vLLM's Ray workers
    # take the bundles) and runs inside the group, so the workers it starts land there too
    assert tp2["strategy"] == "STRICT_PACK"
    assert tp2["bundles"] == [{"CPU": 0.5, "GPU": 1.0, "h100": 1.0}, {"GPU": 1.0}]
    assert tp2["where"] == {"gpus": [], "group": tp2["group"]}
    assert tp2["after_stop"] == "REMOVED"
    # tensor_parallel_size 1: each replica holds its own GPU
    assert sorted(g for gpus in report["tp1"] for g in gpus) == ["0", "1", "2"]
    assert report["cpu_only_bundles"] == [{"CPU": 0.5}]
    # node labels: a replica goes only where they match (this node is labelled pool=gpu)
    assert report["labels_match"] is True and report["labels_differ"] is False
    assert report["verifier_match"] is True and report["verifier_differ"] is False
