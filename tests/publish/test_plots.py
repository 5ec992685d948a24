"""Card plots: the series behind them against the tasks of known outcome, and the PNGs read back as images."""

from __future__ import annotations

import time

import numpy as np
import pytest
from matplotlib.image import imread
from publish.yield_output import write_output

from foundry.publish.plots import PLOTS, plot_data, plots_markdown, write_plots, yield_curve
from foundry.storage.manifest import read_commits, read_manifest
from foundry.storage.uri import open_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    run = {"run_id": "r1", "started_at": time.time() - 100.0, "replicas": 2, "gpus_per_replica": 0.5}
    return open_store(write_output(tmp_path_factory.mktemp("out") / "c", runs=[run]))


def test_series_match_the_known_tasks(store):
    data = plot_data(store)
    assert sorted(data.pass_rates) == pytest.approx([1 / 6, 0.5, 5 / 6])  # Beta(1,5), Beta(3,3), Beta(5,1)
    assert data.rejections == {("math", "wrong answer"): 6}
    # completion_tokens = 10 + 5 * index (+ 20 when accepted); accepted: mid 0, 2 and easy 0-3
    assert sorted(data.lengths["accepted"]) == [30, 30, 35, 40, 40, 45]
    assert sorted(data.lengths["rejected"]) == [10, 15, 15, 20, 25, 25]  # mid 1, 3 and hard 0-3


def test_yield_curve_counts_gpu_seconds_from_run_start(store):
    data = plot_data(store)
    commits, (run,) = read_commits(store), read_manifest(store).runs
    start = run.started_at
    assert data.compute_unit == "GPU-second" and len(data.yield_curve) == 3
    # 1 GPU in all (2 replicas x 0.5); accepted after each commit: mid 2, easy +4, hard +0
    for (seconds, rate), record, accepted in zip(data.yield_curve, commits, (2, 6, 6), strict=True):
        assert seconds == pytest.approx(record["time"] - start)
        assert rate == pytest.approx(accepted / seconds)


def test_yield_curve_of_a_killed_and_a_resumed_run():
    commits = [{"time": 110.0, "counts": {"accepted": 5}}, {"time": 230.0, "counts": {"accepted": 5}}]
    runs = [{"started_at": 100.0, "updated_at": 120.0, "replicas": 1, "gpus_per_replica": 2.0},
            {"started_at": 200.0, "wall_seconds": 50.0, "replicas": 1, "gpus_per_replica": 2.0}]
    # first commit: 10 s x 2 GPUs; second: the killed run's 20 s + 30 s of the second, x 2 GPUs
    assert yield_curve(commits, runs) == ([(20.0, 0.25), (100.0, 0.1)], "GPU-second")
    cpu = [{"started_at": 100.0, "wall_seconds": 50.0, "replicas": 3, "gpus_per_replica": 0.0}]
    assert yield_curve(commits[:1], cpu) == ([(30.0, 5 / 30)], "replica-second")


def test_pngs_are_written_and_read_back(store, tmp_path):
    paths = write_plots(store, tmp_path / "plots")
    assert sorted(p.name for p in paths.values()) == sorted(file for file, _ in PLOTS.values())
    for path in paths.values():
        image = imread(path)
        assert image.shape[:2] == (400, 700)
        assert np.asarray(image).std() > 0.01  # something is drawn, not a blank canvas


def test_markdown_links_every_png():
    text = plots_markdown("plots/")
    for file, caption in PLOTS.values():
        assert f"![{caption}](plots/{file})" in text


def test_an_output_without_runs_or_rejections_still_plots(tmp_path):
    store = open_store(write_output(tmp_path / "c", keep_rejected=False, tasks_table=False))
    data = plot_data(store)
    assert data.pass_rates == [] and data.yield_curve == [] and not data.rejections
    paths = write_plots(store, tmp_path / "plots")
    assert all(imread(p).shape[:2] == (400, 700) for p in paths.values())
