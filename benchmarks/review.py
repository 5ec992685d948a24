"""Review figures: p95 from submit to the next item painted in real headless chromium, and server throughput in
reviews/s with 20 reviewers over HTTP on loopback. Prints JSON.

    .venv/bin/python benchmarks/review.py [--items 60] [--kb 50] [--load-items 2000]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from foundry.config import CampaignConfig
from foundry.storage.shards import ShardWriter
from foundry.storage.uri import open_store
from foundry.types import Sample, sample_id


def build(out: Path, items: int, kb: int) -> None:
    config = CampaignConfig.model_validate({"name": "review-bench", "source": {"path": "t.jsonl"},
                                            "output": {"path": str(out)}, "verifiers": [{"kind": "sections"}]})
    paragraph = "We add the numbers $a_i^2$ step by step, checking **each** partial sum. " * 10
    steps = "\n\n".join(f"{n + 1}. {paragraph}" for n in range(max(1, kb * 1024 // len(paragraph))))
    with ShardWriter(open_store(str(out)), max_rows=1000,
                     manifest_extra={"campaign": config.name, "config": config.model_dump(mode="json")}) as writer:
        for n in range(items):
            task = f"t{n:05d}"
            writer.add_task(task, [Sample(id=sample_id(config.name, task, 0), task_id=task, sample_index=0,
                                          prompt=f"Task {n}", reasoning=steps, answer=f"\\boxed{{{n}}}",
                                          completion=steps, final_answer=str(n), reference=str(n))])


def serve(out: Path, *args: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "foundry", "review", str(out), "--queue", "all", *args],
                               stdout=subprocess.PIPE, text=True)
    while True:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("foundry review exited")
        if found := re.search(r"open (http://\S+)", line):
            url = found.group(1)
            break
    for _ in range(300):
        try:
            httpx.get(url.split("#")[0], timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("server did not answer")


def browser_latency(out: Path, items: int) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    process, url = serve(out, "--port", "8731")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.switch_to.active_element.get_attribute("id") == "name")
        ActionChains(driver).send_keys("bench", Keys.ENTER).perform()
        WebDriverWait(driver, 30).until(lambda d: d.find_element("id", "work").is_displayed())
        for n in range(items - 1):
            ActionChains(driver).send_keys("a", Keys.ENTER).perform()
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "const t = window.foundryTimings; return t.length > %d && t[%d].painted !== null" % (n, n)))
        timings = driver.execute_script("return window.foundryTimings")
    finally:
        driver.quit()
        process.terminate()
        process.wait()
    ms = sorted(t["painted"] - t["start"] for t in timings)
    phases = {"submit": ("start", "saved"), "next_item_request": ("saved", "fetched"),
              "dom_build": ("fetched", "built"), "layout_and_paint": ("built", "painted")}
    return {"items": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1), "max_ms": round(ms[-1], 1),
            "p50_ms_by_phase": {name: round(statistics.median(t[b] - t[a] for t in timings), 1)
                                for name, (a, b) in phases.items()}}


def throughput(out: Path, reviewers: int = 20) -> dict:
    process, url = serve(out, "--port", "8732", "--reviewers", "2", "--db", str(out.parent / "load.sqlite"))
    base, token = url.split("/#token=")
    done = []

    def work(name: str) -> None:
        http = httpx.Client(base_url=base, headers={"X-Review-Token": token, "X-Reviewer": name}, timeout=30)
        for step in range(100_000):
            item = http.get("/api/next").json()["item"]
            if item is None:
                return
            if http.post("/api/submit", json={"key": f"{name}-{step:06d}", "item_id": item["item_id"],
                                              "kind": "accept"}).status_code == 200:
                done.append(1)

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(reviewers)]
    started = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.time() - started
    process.terminate()
    process.wait()
    return {"reviewers": reviewers, "reviews": len(done), "seconds": round(seconds, 2),
            "reviews_per_second": round(len(done) / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--kb", type=int, default=50)
    parser.add_argument("--load-items", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="foundry-review-bench-"))
    build(root / "big", args.items, args.kb)
    build(root / "load", args.load_items, 1)
    print(json.dumps({"submit_to_next_painted": {"item_kb": args.kb, **browser_latency(root / "big", args.items)},
                      "throughput": throughput(root / "load")}, indent=2))


if __name__ == "__main__":
    main()
