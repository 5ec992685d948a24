"""RunLog: actor output and driver warnings go to the run's file, error lines also to the console, and the console
is given back as it was afterwards (Ray's dispatcher object, no cluster needed)."""

from __future__ import annotations

import logging
import warnings

from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatcher

from foundry.cluster.logs import MAX_CONSOLE_ERRORS, RunLog


def batch(*lines: str, actor: str = "ReplicaActor") -> dict:
    return {"actor_name": actor, "pid": 42, "lines": list(lines), "is_err": True}


def test_actor_lines_go_to_the_file_and_errors_to_the_console(tmp_path):
    printed, console = [], logging.StreamHandler()
    logging.getLogger("vllm").addHandler(console)
    before = list(dispatcher.handlers)
    try:
        with RunLog(tmp_path / "logs" / "run.log", printed.append) as run_log:
            run_log.capture_actors()
            dispatcher.emit(batch("WARNING 12-06 [cpu.py:224] Triton is not installed.",
                                  "ERROR 12-06 [core.py:9] EngineCore failed: out of memory"))
            logging.getLogger("vllm").warning("a driver-side warning")
            warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
            assert console.level == logging.ERROR
        text = (tmp_path / "logs" / "run.log").read_text()
        assert "(ReplicaActor pid=42) WARNING 12-06 [cpu.py:224] Triton is not installed." in text
        assert "a driver-side warning" in text and "deprecated thing" in text
        assert printed == ["ReplicaActor: ERROR 12-06 [core.py:9] EngineCore failed: out of memory"]
        assert console.level == logging.NOTSET and dispatcher.handlers == before
    finally:
        logging.getLogger("vllm").removeHandler(console)


def test_a_flood_of_errors_is_capped_on_the_console(tmp_path):
    printed = []
    with RunLog(tmp_path / "run.log", printed.append) as run_log:
        run_log.capture_actors()
        dispatcher.emit(batch(*[f"ERROR step {i} failed" for i in range(MAX_CONSOLE_ERRORS + 5)]))
    assert len(printed) == MAX_CONSOLE_ERRORS + 1 and printed[-1] == f"more errors in {tmp_path / 'run.log'}"
    assert len((tmp_path / "run.log").read_text().splitlines()) == MAX_CONSOLE_ERRORS + 5


def test_the_runs_actors_late_lines_still_go_to_its_file(tmp_path):
    """An engine prints while it shuts down; Ray delivers those lines after the run: they follow the run's log,
    while other processes' output reaches Ray's console printer again."""
    shown = []
    dispatcher.add_handler("ray_print_logs", shown.append)
    try:
        with RunLog(tmp_path / "run.log", print) as run_log:
            run_log.capture_actors()
            dispatcher.emit(batch("engine started"))
        dispatcher.emit(batch("[shutdown] force killing remaining process EngineCore"))
        dispatcher.emit({"actor_name": "Other", "pid": 7, "lines": ["someone else's line"], "is_err": False})
        lines = (tmp_path / "run.log").read_text().splitlines()
        assert lines == ["(ReplicaActor pid=42) engine started",
                         "(ReplicaActor pid=42) [shutdown] force killing remaining process EngineCore"]
        assert [b["lines"] for b in shown] == [["someone else's line"]]
    finally:
        dispatcher.remove_handler("ray_print_logs")
