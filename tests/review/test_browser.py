"""End to end in a real browser: Debian's headless chromium (Selenium) against `foundry review` on loopback.

A reviewer logs in and, by keystrokes only, accepts one item, rejects one with a reason and step labels, corrects
an answer; then the SQLite log, the corrected sample (re-verified by the real math verifier) and its compacted
shard are checked, and the XSS payload in one completion is shown as text without running.
"""

from __future__ import annotations

import io
import os
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from review.helpers import review_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(campaign_output):
    out, samples = campaign_output
    with review_server(out, "--queue", "all") as (url, _):
        yield url, out, samples


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="foundry-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def keys(driver, *strokes) -> None:
    """Keystrokes to whatever has focus: the page itself, never a click."""
    actions = ActionChains(driver)
    for stroke in strokes:
        if isinstance(stroke, tuple):  # (modifier, key)
            actions.key_down(stroke[0]).send_keys(stroke[1]).key_up(stroke[0])
        else:
            actions.send_keys(stroke)
    actions.perform()


def no_script_ran(driver) -> None:
    try:
        alert = driver.switch_to.alert.text
    except NoAlertPresentException:
        alert = None
    assert alert is None, f"an alert opened: {alert!r}"
    assert driver.execute_script("return window.__xss === undefined") is True


def current_task(driver) -> str | None:
    found = re.search(r"task (t\d\d)", driver.find_element(By.ID, "meta").text)
    return found.group(1) if found else None


def look(driver, seen: dict[str, str]) -> str:
    """Note the item shown; on the one carrying the payload, check that it is visible as text and inert."""
    task = current_task(driver)
    no_script_ran(driver)
    if task == "t00":
        seen["xss_answer"] = driver.find_element(By.ID, "answer").text
        seen["xss_tags"] = str(len(driver.find_elements(By.CSS_SELECTOR, "#answer img, #answer script")))
        seen["math"] = str(len(driver.find_elements(By.CSS_SELECTOR, "#steps math")))
        driver.save_screenshot(seen["screenshot"])
    return task


def wait_status(driver, pattern: str) -> str:
    WebDriverWait(driver, 30).until(lambda d: re.search(pattern, d.find_element(By.ID, "status").text))
    return driver.find_element(By.ID, "status").text


def wait_next(driver, previous: str | None, seen: dict[str, str]) -> str | None:
    """The next item (or None when the queue is done for this reviewer), once painted."""
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "done").is_displayed()
                                    or current_task(d) not in (None, previous))
    return None if driver.find_element(By.ID, "done").is_displayed() else look(driver, seen)


def test_review_by_keyboard_in_chromium(server, browser, tmp_path):
    url, out, samples = server
    by_task = {s.task_id: s for s in samples.values()}
    seen = {"screenshot": str(Path(os.environ.get("FOUNDRY_SCREENSHOT_DIR", tmp_path)) / "review.png")}
    browser.get(url)
    WebDriverWait(browser, 30).until(lambda d: d.switch_to.active_element.get_attribute("id") == "name")
    keys(browser, "ann", Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "work").is_displayed())
    keys(browser, "?")
    assert browser.find_element(By.ID, "help").is_displayed() and "first wrong" in browser.find_element(By.ID, "help").text
    keys(browser, Keys.ESCAPE)
    assert not browser.find_element(By.ID, "help").is_displayed()

    accepted_task = wait_next(browser, None, seen)
    keys(browser, "a", Keys.ENTER)
    wait_status(browser, r"accept saved")
    rejected_task = wait_next(browser, accepted_task, seen)
    keys(browser, "g", "j", "b", "w", "r", "2", Keys.ENTER)  # step 0 good, step 1 bad and first wrong, reason 2
    wait_status(browser, r"reject saved")
    corrected_task = wait_next(browser, rejected_task, seen)
    right = int(corrected_task[1:]) + 1
    keys(browser, "e", (Keys.CONTROL, "a"), f"So the answer is \\boxed{{{right}}}.", (Keys.CONTROL, Keys.ENTER))
    status = wait_status(browser, r"correct saved")
    assert "correction accepted by the verifiers" in status

    # Skip (by key) through the rest of the queue: every item is painted and checked on the way.
    task, shown = corrected_task, 3
    while (task := wait_next(browser, task, seen)) is not None:
        shown += 1
        keys(browser, "s")
        wait_status(browser, r"skip saved")
    assert shown == len(samples) == 20
    assert "<script>window.__xss=2;alert(2)</script>" in seen["xss_answer"]
    assert 'onerror="window.__xss=1' in seen["xss_answer"] and seen["xss_tags"] == "0"
    assert seen["math"] != "0"  # $x^2$ in the reasoning rendered as MathML
    no_script_ran(browser)

    # The log: what the keys did, stored once each, with the reviewer's labels.
    db = sqlite3.connect(out / "_foundry" / "reviews" / "reviews.sqlite")
    events = db.execute("SELECT kind, sample_id, reviewer, payload FROM events ORDER BY seq").fetchall()
    verdicts = [(kind, sid) for kind, sid, _, _ in events if kind != "skip"]
    assert verdicts == [("accept", by_task[accepted_task].id), ("reject", by_task[rejected_task].id),
                        ("correct", by_task[corrected_task].id)]
    assert {reviewer for _, _, reviewer, _ in events} == {"ann"}
    reject = json.loads(events[1][3])
    assert reject["reason"] == "wrong-reasoning"
    assert reject["step_ratings"] == {"0": "good", "1": "bad"} and reject["first_wrong_step"] == 1
    correction = json.loads(events[2][3])["corrected"]
    assert correction["final_answer"] == str(right) and correction["accepted"] is True
    assert [(v["verifier"], v["passed"]) for v in correction["verdicts"]] == [("sections", True), ("math", True)]
    assert correction["parent_id"] == by_task[corrected_task].id and correction["reviewer"] == "ann"

    # Compaction by the CLI puts the correction in data/corrected-*.parquet, linked to its parent.
    done = subprocess.run([sys.executable, "-m", "foundry", "review", str(out), "--compact"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    shard = next((out / "data").glob("corrected-*.parquet"))
    rows = pq.read_table(io.BytesIO(shard.read_bytes())).to_pylist()
    assert [(r["parent_id"], r["accepted"], r["final_answer"]) for r in rows] == [
        (by_task[corrected_task].id, True, str(right))]
