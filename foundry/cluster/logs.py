"""A run's log file: what replicas, verifiers, vLLM and Ray print goes there instead of over the progress display.

Without it a quickstart printed 51 lines, 16 of them engine and Ray warnings (Triton, NUMA, tcmalloc, token auth,
deprecations). With it the console shows the live progress and the report; each line an actor printed at ERROR
level still reaches the console once, as one line (up to `MAX_CONSOLE_ERRORS`), and everything is in the file.
Actor output arrives through Ray's log stream to the driver (`log_to_driver`), whose console printer is swapped for
this file while the run lasts and put back after.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_CONSOLE_ERRORS = 10
_ERROR = re.compile(r"(^|[\s\]])(ERROR|CRITICAL|FATAL)[\s:]")
_LOGGERS = ("", "ray", "vllm", "py.warnings")
"""The root logger and those that print on their own (vLLM's and Ray's own handlers, Python warnings)."""
_HANDLER = "foundry_run_log"


def _source(batch: dict[str, Any]) -> tuple[str, str]:
    """Who printed a batch of lines, and the prefix its lines get in the file: `(ReplicaActor pid=12) `."""
    where = batch.get("actor_name") or batch.get("task_name") or "worker"
    return where, f"({where} pid={batch.get('pid')}) "


class RunLog:
    """Context manager: while open, driver logs at WARNING and up, and every actor's output, go to `path`."""

    def __init__(self, path: Path, on_error: Callable[[str], None]):
        self.path = path
        self.on_error = on_error
        self.errors = 0
        self._lock = threading.Lock()
        self._saved: list[tuple[logging.Handler, int]] = []
        self._ray_printers: list[tuple[str, Any]] = []
        self.pids: set[Any] = set()
        """Processes whose output came here: what they print after the run (engine shutdown) follows it."""

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", buffering=1, encoding="utf-8", errors="replace")
        self.handler = logging.StreamHandler(self.file)
        self.handler.setLevel(logging.INFO)
        self.handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.captureWarnings(True)
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            for handler in logger.handlers:
                if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                    self._saved.append((handler, handler.level))
                    handler.setLevel(logging.ERROR)  # the console keeps errors only
            logger.addHandler(self.handler)
        return self

    def capture_actors(self) -> None:
        """Route the output Ray streams from actors to the file (call once Ray is up)."""
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

        with dispatcher._lock:
            self._ray_printers = [pair for pair in dispatcher.handlers if pair[0] == "ray_print_logs"]
        dispatcher.remove_handler("ray_print_logs")
        dispatcher.add_handler(_HANDLER, self._actor_lines)

    def _actor_lines(self, batch: dict[str, Any]) -> None:
        where, prefix = _source(batch)
        with self._lock:
            self.pids.add(batch.get("pid"))
            for line in batch.get("lines") or []:
                self.file.write(prefix + line + "\n")
                if _ERROR.search(line):
                    self.errors += 1
                    if self.errors <= MAX_CONSOLE_ERRORS:
                        self.on_error(f"{where}: {line.strip()[:300]}")
                    elif self.errors == MAX_CONSOLE_ERRORS + 1:
                        self.on_error(f"more errors in {self.path}")

    def __exit__(self, *exc: Any) -> None:
        try:
            from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

            dispatcher.remove_handler(_HANDLER)
            for name, printer in self._ray_printers:
                dispatcher.add_handler(name, _Late(self.path, self.pids, printer))
        except ImportError:
            pass
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)
        for handler, level in self._saved:
            handler.setLevel(level)
        logging.captureWarnings(False)
        self.file.close()


class _Late:
    """Ray's console printer again, except for the run's own actors and Ray's own processes: their last lines
    (printed while they shut down, delivered after the run) are appended to the run's file."""

    def __init__(self, path: Path, pids: set[Any], printer: Callable[[dict[str, Any]], None]):
        self.path, self.pids, self.printer = path, set(pids), printer

    def __call__(self, batch: dict[str, Any]) -> None:
        pid = batch.get("pid")
        if pid not in self.pids and isinstance(pid, int):  # another worker's: not ours to hide
            self.printer(batch)
            return
        # the run's actors, and Ray's own processes (`raylet`, `gcs_server`, `autoscaler`) winding down after it
        prefix = _source(batch)[1]
        with open(self.path, "a", encoding="utf-8", errors="replace") as file:
            file.writelines(prefix + line + "\n" for line in batch.get("lines") or [])
