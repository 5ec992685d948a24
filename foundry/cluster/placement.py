"""Where generator replicas run: one placement group per replica, tensor-parallel GPUs packed on one node.

With GPUs in the cluster, each replica reserves `tensor_parallel_size` one-GPU bundles with STRICT_PACK, so a
tensor-parallel group never spans nodes and a CPU-only node can never host a replica. The engine actor sits in
bundle 0: with `tensor_parallel_size == 1` it holds that GPU itself (vLLM's in-process executor); above 1 it holds
none and vLLM's Ray executor, which adopts the actor's placement group, starts one worker per bundle. Without GPUs
anywhere, a replica is a plain actor with `replica_num_cpus` CPUs, as on a laptop or in CI.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from foundry.config import CampaignConfig
from foundry.generators.tool_use import ToolUseReplica
from foundry.types import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

# vLLM logs every request at INFO to stdout; keep a campaign's output readable (override through `engine.env`).
QUIET_ENGINE = {"VLLM_LOGGING_LEVEL": "WARNING", "VLLM_LOGGING_STREAM": "ext://sys.stderr"}


def here() -> dict[str, Any]:
    """The Ray node this process runs on (hostnames repeat on a one-machine cluster; node ids do not)."""
    context = ray.get_runtime_context()
    return {"node_id": context.get_node_id(), "node_ip": ray.util.get_node_ip_address(), "pid": os.getpid(),
            "hostname": os.uname().nodename}


class ExitOnEngineDeath:
    """Mixin for replica actors: when the engine is dead, end the actor process instead of answering errors.

    vLLM cannot recover a dead engine in-process (vllm#28028), and a live actor with a dead engine would fail every
    request sent to it. Exiting the process turns that into an actor death, which the pool answers by starting a
    fresh replica and re-sending the requests. `os._exit`, not `ray.actor.exit_actor()`: an intentional exit
    reads as a clean shutdown (the reasoning of ray PR #60145). Matched by name so this module never imports vLLM.
    """

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        try:
            return await super().generate(request)  # type: ignore[misc]
        except Exception as exc:
            if type(exc).__name__ in ("EngineDeadError", "AsyncEngineDeadError"):
                log.error("engine dead (%s); exiting the replica process so it is replaced", exc)
                os._exit(1)
            raise


class Mailbox:
    """Mixin for replica actors: many requests per Ray call, each way, and no request waits for another.

    A Ray actor call costs about a millisecond of CPU between the two processes; one call per request caps a driver
    near a thousand requests a second. `submit(requests)` starts a batch and returns at once; `collect(acks)` waits
    until at least one request has finished and returns every finished one. A result stays here until a later
    `collect` acknowledges it, so a collect whose caller went away (an ended event loop) loses nothing.
    """

    def _box(self) -> tuple[dict[str, tuple], asyncio.Event, set]:
        if not hasattr(self, "_mailbox"):
            self._mailbox = ({}, asyncio.Event(), set())
        return self._mailbox

    async def submit(self, requests: list[GenerationRequest]) -> int:
        running = self._box()[2]
        for request in requests:
            task = asyncio.ensure_future(self._answer(request))
            running.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(running.discard)
        return len(requests)

    async def _answer(self, request: GenerationRequest) -> None:
        finished, event, _ = self._box()
        try:
            finished[request.request_id] = (request.request_id, await self.generate(request), None)
        except Exception as exc:  # this request failed, not the replica: the driver raises it for this one only
            finished[request.request_id] = (request.request_id, None, f"{type(exc).__name__}: {exc}")
        event.set()

    async def collect(self, acks: list[str]) -> list[tuple[str, GenerationResult | None, str | None]]:
        finished, event, _ = self._box()
        for request_id in acks:
            finished.pop(request_id, None)
        while not finished:
            event.clear()
            await event.wait()
        return list(finished.values())


class ReplicaActor(ExitOnEngineDeath, Mailbox, ToolUseReplica):
    """`ToolUseReplica` (the engine, plus tool-use rollouts) as the pool runs it: reports its Ray node, exits when
    its engine dies."""

    def node(self) -> dict[str, Any]:
        return {"role": "replica", **super().node(), **here(), "gpus": [str(g) for g in ray.get_gpu_ids()]}


def replica_gpus(campaign: CampaignConfig) -> float:
    """GPUs per replica: as configured, else `tensor_parallel_size` when the cluster has GPUs, else none."""
    if campaign.cluster.replica_num_gpus is not None:
        return campaign.cluster.replica_num_gpus
    return float(campaign.engine.tensor_parallel_size) if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def replica_bundles(campaign: CampaignConfig) -> list[dict[str, float]]:
    """The placement group of one replica: bundle 0 carries the actor's CPUs and custom resources."""
    cluster, gpus = campaign.cluster, replica_gpus(campaign)
    tp = campaign.engine.tensor_parallel_size
    per_bundle = gpus / tp
    first = {"CPU": cluster.replica_num_cpus, "GPU": per_bundle, **cluster.replica_resources}
    return [{k: v for k, v in first.items() if v}] + [{"GPU": per_bundle} for _ in range(tp - 1)]


class ReplicaLauncher:
    """Starts replica actors for a campaign (each in its own placement group when GPUs are used) and stops them.

    `start(index)` returns the actor at once; its engine loads in the constructor, so the first call on it waits.
    `stop(index, actor)` kills the actor and frees its placement group, so a replacement can take the GPUs.
    """

    def __init__(self, campaign: CampaignConfig, actor_class: type = ReplicaActor):
        self.campaign = campaign
        self.actor_class = ray.remote(actor_class)
        self.groups: dict[int, PlacementGroup] = {}

    def start(self, index: int) -> Any:
        cluster, gpus = self.campaign.cluster, replica_gpus(self.campaign)
        options: dict[str, Any] = {
            "num_cpus": cluster.replica_num_cpus,
            "max_concurrency": max(1000, 4 * cluster.max_in_flight_per_replica),
            "runtime_env": {"env_vars": {**QUIET_ENGINE, **self.campaign.engine.env}},
            "max_restarts": 0,  # the pool replaces dead replicas itself, within its restart budget
        }
        if gpus > 0:
            bundles = replica_bundles(self.campaign)
            group = placement_group(bundles, strategy="STRICT_PACK",
                                    name=f"foundry-{self.campaign.name}-replica-{index}-{uuid.uuid4().hex[:6]}",
                                    bundle_label_selector=[dict(cluster.replica_labels) for _ in bundles]
                                    if cluster.replica_labels else None)
            self.groups[index] = group
            tp = self.campaign.engine.tensor_parallel_size
            options["num_gpus"] = gpus if tp == 1 else 0
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=0, placement_group_capture_child_tasks=True
            )
        else:
            options["num_gpus"] = 0
            options["resources"] = dict(cluster.replica_resources)
            if cluster.replica_labels:
                options["label_selector"] = dict(cluster.replica_labels)
        engine = self.campaign.engine
        return self.actor_class.options(**options).remote(engine.model, engine.engine_args(), f"replica-{index}")

    def stop(self, index: int, actor: Any) -> None:
        ray.kill(actor, no_restart=True)
        group = self.groups.pop(index, None)
        if group is not None:
            remove_placement_group(group)
