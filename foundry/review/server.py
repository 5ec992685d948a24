"""The review web app: a JSON API over the event log and one page of plain JavaScript (no build step).

Every state change is an event in the SQLite log, committed before the response is sent. The page holds no
authority: leases, N reviews per item and idempotency are decided here. Requests carry the access token printed
at start in a header (so another site cannot forge them) and the reviewer's name.
"""

from __future__ import annotations

import hmac
import html
import json
import re
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from foundry.review.correct import Corrector
from foundry.review.events import EventLog, Lease, ReviewError
from foundry.review.output import ReviewOutput, load_samples
from foundry.review.queues import ADJUDICATION, QUEUES, build_queue, decision, disagreement_items, live_verdicts
from foundry.review.render import clean, highlight_css, render, split_steps
from foundry.types import Sample

REASONS = ("wrong-answer", "wrong-reasoning", "incomplete", "unsafe", "format", "other")
"""Reason tags for a rejection, keys 1-6 in the page."""
_NAME = re.compile(r"[\w .@-]{1,64}")
_KEY = re.compile(r"[\w-]{8,80}")
_SECURITY = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ReviewService:
    """What the routes do, without HTTP: testable in-process."""

    def __init__(self, output: ReviewOutput, log: EventLog, queue: str, reviews_per_item: int = 1):
        if queue not in QUEUES:
            raise ValueError(f"--queue: {queue!r} is not one of {', '.join(QUEUES)}")
        self.output, self.log, self.queue = output, log, queue
        self.reviews_per_item = reviews_per_item
        self.samples: dict[str, Sample] = load_samples(output.store)
        self.corrector = Corrector(output.config)
        acceptance = output.config.acceptance if output.config else None
        items = [] if queue == ADJUDICATION else build_queue(self.samples.values(), queue, acceptance)
        if items:
            log.add_items(items, reviews_per_item)
        self.rendered = RenderCache(self.samples, [sample_id for _, sample_id, _, _ in items])

    def next_item(self, reviewer: str) -> dict[str, Any] | None:
        if self.queue == ADJUDICATION:  # new disagreements appear as reviews come in
            self.log.add_items(disagreement_items(self.log.events()), 1)
        lease = self.log.lease(reviewer, self.queue)
        if lease is None:
            return None
        self.rendered.warm_after(lease.sample_id)
        return self.view(lease)

    def submit(self, reviewer: str, body: dict[str, Any]) -> dict[str, Any]:
        key, item_id, kind = str(body.get("key", "")), str(body.get("item_id", "")), body.get("kind")
        if not _KEY.fullmatch(key):
            raise ReviewError("key: 8-80 letters, digits, '-' or '_' (a client-generated idempotency key)")
        if kind not in ("accept", "reject", "correct", "skip"):
            raise ReviewError(f"kind: {kind!r} is not accept, reject, correct or skip")
        payload = _labels(body)
        if kind == "reject":
            if body.get("reason") not in REASONS:
                raise ReviewError(f"reason: a rejection needs one of {', '.join(REASONS)}")
            payload["reason"] = body["reason"]
        if kind == "correct":
            known = self.log.get(key)
            if known is not None:  # a retried correction: neither re-verified nor stored again
                return {"seq": known.seq, "duplicate": True, **_correction_summary(known.payload)}
            sample = self._sample_of(item_id)
            answer = body.get("answer")
            if not isinstance(answer, str) or not answer.strip():
                raise ReviewError("answer: a correction needs a non-empty answer")
            reasoning = body.get("reasoning", sample.reasoning)  # absent: only the answer was corrected
            if reasoning is not None and not isinstance(reasoning, str):
                raise ReviewError("reasoning: text, or absent to keep the original reasoning")
            row = self.corrector.correct(sample, reasoning, answer, reviewer, self.log.clock(), key)
            payload.update(corrected=row, corrected_id=row["id"], skipped_verifiers=self.corrector.skipped)
        event, duplicate = self.log.record(key, item_id, reviewer, kind, payload)
        return {"seq": event.seq, "duplicate": duplicate, **_correction_summary(event.payload)}

    def undo(self, reviewer: str, body: dict[str, Any]) -> dict[str, Any]:
        key = str(body.get("key", ""))
        if not _KEY.fullmatch(key):
            raise ReviewError("key: 8-80 letters, digits, '-' or '_' (a client-generated idempotency key)")
        event, duplicate = self.log.undo(key, reviewer)
        return {"seq": event.seq, "duplicate": duplicate, "item_id": event.item_id}

    def _sample_of(self, item_id: str) -> Sample:
        sample = self.samples.get(item_id.split("/", 1)[-1])
        if sample is None:
            raise ReviewError(f"no item {item_id!r} in the review queue")
        return sample

    def view(self, lease: Lease) -> dict[str, Any]:
        """One item as the page shows it: every piece of model text already sanitized HTML."""
        s = self.samples[lease.sample_id]
        prior = []
        if lease.queue == ADJUDICATION:
            prior = [{"reviewer": e.reviewer, "decision": decision(e), "reason": e.payload.get("reason"),
                      "corrected_id": e.payload.get("corrected_id")}
                     for e in live_verdicts(self.log.events()) if e.sample_id == s.id
                     and not e.item_id.startswith(ADJUDICATION + "/")]
        return {
            "item_id": lease.item_id, "sample_id": s.id, "queue": lease.queue, "lease_expires": lease.expires_at,
            "task_id": s.task_id, **self.rendered.get(s.id),
            "reasoning": s.reasoning or "", "answer": s.answer if s.answer is not None else s.completion,
            "final_answer": s.final_answer, "reference": s.reference,
            "suggestions": {"accepted": s.accepted, "verdicts": [
                {"verifier": v.verifier, "passed": v.passed, "score": v.score, "reason": v.reason} for v in s.verdicts]},
            "prior_reviews": prior, "reasons": list(REASONS),
        }


class RenderCache:
    """A sample's model text as sanitized HTML, for the most recent samples, and rendered ahead of the queue:
    reviewers take items in queue order, so the next few are rendered in the background while one is being read
    (a 50 KB reasoning chain takes tens of milliseconds, which the reviewer would otherwise wait for)."""

    def __init__(self, samples: dict[str, Sample], order: list[str], size: int = 256, ahead: int = 4):
        self.samples, self.size, self.ahead = samples, size, ahead
        self.position = {sample_id: i for i, sample_id in enumerate(order)}
        self.order = order
        self._done: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-ahead")

    def get(self, sample_id: str) -> dict[str, Any]:
        with self._lock:
            if sample_id in self._done:
                self._done.move_to_end(sample_id)
                return self._done[sample_id]
        return self._store(sample_id, _rendered(self.samples[sample_id]))

    def warm_after(self, sample_id: str) -> None:
        start = self.position.get(sample_id)
        if start is not None:
            for upcoming in self.order[start + 1:start + 1 + self.ahead]:
                self._pool.submit(self._warm, upcoming)

    def _warm(self, sample_id: str) -> None:
        with self._lock:
            if sample_id in self._done:
                return
        self._store(sample_id, _rendered(self.samples[sample_id]))

    def _store(self, sample_id: str, view: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._done[sample_id] = view
            self._done.move_to_end(sample_id)
            while len(self._done) > self.size:
                self._done.popitem(last=False)
        return view


def _rendered(s: Sample) -> dict[str, Any]:
    """The parts of a sample's view that are model text, as sanitized HTML."""
    return {"prompt_html": render(s.prompt), "messages": [_message(m) for m in s.messages or []],
            "steps": [{"html": render(step), "text": step} for step in split_steps(s.reasoning)],
            "answer_html": render(s.answer if s.answer is not None else s.completion)}


def _labels(body: dict[str, Any]) -> dict[str, Any]:
    ratings = body.get("step_ratings") or {}
    if not isinstance(ratings, dict) or any(v not in ("good", "neutral", "bad") for v in ratings.values()):
        raise ReviewError("step_ratings: map step number to good, neutral or bad")
    first = body.get("first_wrong_step")
    if first is not None and (not isinstance(first, int) or first < 0):
        raise ReviewError("first_wrong_step: a step number (from 0) or null")
    return {"step_ratings": {str(k): v for k, v in ratings.items()}, "first_wrong_step": first}


def _correction_summary(payload: dict[str, Any]) -> dict[str, Any]:
    row = payload.get("corrected")
    if not row:
        return {}
    return {"corrected_id": row["id"], "corrected_accepted": row["accepted"],
            "corrected_verdicts": [{k: v[k] for k in ("verifier", "passed", "reason")} for v in row["verdicts"]]}


def _message(message: dict[str, Any]) -> dict[str, Any]:
    calls = [{"name": html.escape(str((c.get("function") or {}).get("name"))),
              "arguments_html": clean(f"<pre><code>{html.escape(str((c.get('function') or {}).get('arguments')))}"
                                      "</code></pre>")} for c in message.get("tool_calls") or []]
    return {"role": str(message.get("role")), "name": message.get("name"), "html": render(message.get("content")),
            "tool_calls": calls}


def create_app(service: ReviewService, token: str, on_close: Callable[[], None] = lambda: None) -> Starlette:
    """The ASGI app. Handlers are sync functions: Starlette runs them in its thread pool, so SQLite's fsync and a
    correction's re-verification never block the event loop. `on_close` runs at shutdown, inside the server's
    lifespan (uvicorn re-raises the stopping signal once it returns, so code after it would never run)."""
    static = files("foundry.review") / "static"

    def authorized(request: Request) -> str:
        given = request.headers.get("x-review-token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise PermissionError("missing or wrong access token (use the URL printed at start)")
        reviewer = request.headers.get("x-reviewer", "").strip()
        if not _NAME.fullmatch(reviewer):
            raise PermissionError("reviewer: a name of 1-64 letters, digits, spaces, '.', '@' or '-'")
        return reviewer

    def api(handler):
        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            try:
                reviewer = authorized(request)
                body = await request.json() if request.method == "POST" else {}
                if not isinstance(body, dict):
                    raise ReviewError("the request body must be a JSON object")
                result = await run_in_threadpool(handler, reviewer, body)
                return JSONResponse(result, headers=_SECURITY)
            except PermissionError as exc:
                return JSONResponse({"error": str(exc)}, status_code=401, headers=_SECURITY)
            except (ReviewError, json.JSONDecodeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=409, headers=_SECURITY)
        return endpoint

    def page(request: Request) -> Response:
        text = (static / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(text.replace("/*PYGMENTS*/", highlight_css()), headers=_SECURITY)

    def asset(name: str, media: str):
        def serve(request: Request) -> Response:
            return Response((static / name).read_text(encoding="utf-8"), media_type=media, headers=_SECURITY)
        return serve

    routes = [
        Route("/", page),
        Route("/review.js", asset("review.js", "text/javascript")),
        Route("/api/next", api(lambda reviewer, _: {"item": service.next_item(reviewer),
                                                     "counts": service.log.counts()}), methods=["GET"]),
        Route("/api/submit", api(service.submit), methods=["POST"]),
        Route("/api/undo", api(service.undo), methods=["POST"]),
    ]
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        from starlette.concurrency import run_in_threadpool

        yield
        await run_in_threadpool(on_close)

    return Starlette(routes=routes, lifespan=lifespan)
