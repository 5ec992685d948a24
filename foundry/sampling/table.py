"""The per-task table, `data/tasks-NNNNN.parquet`: what each task cost and how hard it was, committed with its
samples (same commit), so resume and exports read pass rates instead of recomputing them."""

from __future__ import annotations

import pyarrow as pa

_VERIFIER = pa.struct([("name", pa.string()), ("version", pa.string())])
TASKS_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("policy", pa.string()),
        ("samples", pa.int32()),
        ("accepted", pa.int32()),
        ("rounds", pa.int32()),
        ("posterior_alpha", pa.float64()),
        ("posterior_beta", pa.float64()),
        ("pass_rate", pa.float64()),
        ("pass_rate_lo", pa.float64()),
        ("pass_rate_hi", pa.float64()),
        ("stop_reason", pa.string()),
        ("model", pa.string()),
        ("verifiers", pa.list_(_VERIFIER)),
    ]
)
"""`pass_rate` is the posterior mean; `pass_rate_lo` / `_hi` bound its equal-tailed 90 % credible interval."""

TASK_FIELD_DOCS = {
    "task_id": "id of the source task",
    "policy": "sampling policy that decided the task's budget (`fixed` or `adaptive`)",
    "samples": "samples drawn for the task (accepted and rejected)",
    "accepted": "samples the verifiers accepted, the pass rate's count (a completion quoting a benchmark item counts "
                "as rejected; one the dedup or embedding gate rejected after sampling still counts: it is a right "
                "answer, stored once)",
    "rounds": "generation requests made for the task",
    "posterior_alpha": "Beta posterior alpha: prior alpha + accepted",
    "posterior_beta": "Beta posterior beta: prior beta + rejected",
    "pass_rate": "posterior mean of the task's pass rate",
    "pass_rate_lo": "5 % quantile of the posterior (lower end of the 90 % credible interval)",
    "pass_rate_hi": "95 % quantile of the posterior (upper end of the 90 % credible interval)",
    "stop_reason": "why sampling stopped: accepted, budget, hopeless, easy, no_output",
    "model": "the generating model",
    "verifiers": "verifier names and versions that judged the samples",
}
