// Foundry review page: keyboard-first, no build step. Only *_html fields (sanitized by the server) go to innerHTML;
// every other string is set as text. Each action carries a fresh idempotency key, reused when it is retried.
"use strict";
(function () {
  const KEYS = [
    ["a", "accept the sample as it is"], ["r", "reject: then 1-6 picks the reason"],
    ["j / k", "next / previous reasoning step"], ["g / n / b", "rate the current step good / neutral / bad"],
    ["w", "mark the current step as the first wrong one"], ["e", "edit reasoning and answer (a correction)"],
    ["Ctrl+Enter", "submit the correction (while editing)"], ["Esc", "leave the editor / close this sheet"],
    ["Enter", "submit your decision"], ["s", "skip this item"], ["u", "undo your last review"], ["?", "this sheet"],
  ];
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
  let reviewer = sessionStorage.getItem("foundry-reviewer") || "";
  let item = null, state = null, pending = null, busy = false;
  const timings = window.foundryTimings = [];  // read by benchmarks/review.py

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function status(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }

  async function call(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await fetch(path, {
          method, headers: {"Content-Type": "application/json", "X-Review-Token": token, "X-Reviewer": reviewer},
          body: body ? JSON.stringify(body) : undefined,
        });
        const data = await response.json();
        if (!response.ok) throw Object.assign(new Error(data.error || response.statusText), {final: true});
        return data;
      } catch (error) {  // a network failure is retried with the same key: the server stores it once
        if (error.final || attempt >= 4) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
      }
    }
  }

  function text(tag, value, cls) {
    const node = document.createElement(tag);
    node.textContent = value == null ? "" : String(value);
    if (cls) node.className = cls;
    return node;
  }

  function show(next) {
    item = next;
    state = {decision: null, reason: null, ratings: {}, firstWrong: null, cursor: 0, editing: false, picking: false};
    pending = null;
    $("done").classList.toggle("hidden", !!item);
    $("work").classList.toggle("hidden", !item);
    if (!item) return;
    $("prompt").innerHTML = item.prompt_html;
    const trace = $("trace");
    trace.replaceChildren();
    for (const message of item.messages) {
      const box = document.createElement("div");
      box.className = "message";
      box.append(text("span", message.role + (message.name ? " (" + message.name + ")" : ""), "role"));
      const content = document.createElement("div");
      content.innerHTML = message.html;
      box.append(content);
      for (const callInfo of message.tool_calls) {
        box.append(text("div", "tool call: " + callInfo.name));
        const args = document.createElement("div");
        args.innerHTML = callInfo.arguments_html;
        box.append(args);
      }
      trace.append(box);
    }
    $("trace-box").classList.toggle("hidden", item.messages.length === 0);
    $("answer").innerHTML = item.answer_html;
    $("edit-reasoning").value = item.reasoning;
    $("edit-answer").value = item.answer;
    $("editor").classList.add("hidden");
    const suggestions = $("suggestions");
    suggestions.replaceChildren(text("div", "verifiers " + (item.suggestions.accepted ? "accepted" : "rejected")));
    for (const v of item.suggestions.verdicts) {
      suggestions.append(text("div", (v.passed ? "✓ " : "✗ ") + v.verifier + " (" + v.score + ")" +
        (v.reason ? ": " + v.reason : ""), "verdict " + (v.passed ? "pass" : "fail")));
    }
    const prior = $("prior");
    prior.replaceChildren(...item.prior_reviews.map((p) =>
      text("div", p.reviewer + ": " + p.decision + (p.reason ? " (" + p.reason + ")" : ""))));
    $("prior-box").classList.toggle("hidden", item.prior_reviews.length === 0);
    $("meta").replaceChildren(text("div", "queue " + item.queue), text("div", "task " + item.task_id),
      text("div", "final answer " + (item.final_answer || "none")), text("div", "reference " + (item.reference || "none")));
    paint();
  }

  function paint() {
    const steps = $("steps");
    steps.replaceChildren();
    item.steps.forEach((step, i) => {
      const box = document.createElement("div");
      const rating = state.ratings[i];
      box.className = "step" + (i === state.cursor ? " current" : "") + (rating ? " " + rating : "") +
        (state.firstWrong === i ? " first-wrong" : "");
      box.dataset.step = i;
      box.append(text("span", (rating || "") + (state.firstWrong === i ? " · first wrong" : ""), "tag"));
      const body = document.createElement("div");
      body.innerHTML = step.html;
      box.append(body);
      steps.append(box);
    });
    if (!item.steps.length) steps.append(text("div", "(no reasoning)"));
    let label = "no decision yet";
    if (state.decision === "accept") label = "accept";
    if (state.decision === "reject") label = "reject" + (state.reason ? ": " + state.reason : " (pick a reason 1-6)");
    $("decision").textContent = label;
    const reasons = $("reasons");
    reasons.classList.toggle("hidden", !state.picking);
    reasons.replaceChildren(...item.reasons.map((r, i) => text("div", (i + 1) + " " + r)));
  }

  async function load() {
    const last = timings[timings.length - 1];
    const open = last && last.painted === null;  // submit to next item painted: the latency reviewers feel
    if (open) last.saved = performance.now();
    const data = await call("GET", "/api/next");
    if (open) last.fetched = performance.now();
    $("progress").textContent = data.counts.reviews_done + " / " + data.counts.reviews_needed + " reviews";
    show(data.item);
    if (open) {
      last.built = performance.now();
      requestAnimationFrame(() => setTimeout(() => { last.painted = performance.now(); }, 0));
    }
  }

  async function send(kind, extra) {
    if (busy || !item) return;
    // The key is made once per prepared action: pressing submit again after a failure resends the same one.
    if (!pending || pending.kind !== kind) pending = {kind, key: newKey()};
    const body = Object.assign({key: pending.key, item_id: item.item_id, kind, step_ratings: state.ratings,
      first_wrong_step: state.firstWrong}, extra || {});
    busy = true;
    timings.push({kind, start: performance.now(), painted: null});
    status("saving…");
    try {
      const result = await call("POST", "/api/submit", body);
      status(kind + " saved (#" + result.seq + ")" + (result.corrected_id ?
        "; correction " + (result.corrected_accepted ? "accepted" : "rejected") + " by the verifiers" : ""));
      await load();
    } catch (error) {
      status(error.message, true);
    } finally { busy = false; }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const result = await call("POST", "/api/undo", {key: newKey()});
      status("undid #" + result.seq);
      await load();
    } catch (error) { status(error.message, true); } finally { busy = false; }
  }

  function submitEdit() {
    send("correct", {reasoning: $("edit-reasoning").value, answer: $("edit-answer").value});
  }

  function toggleHelp(force) {
    const help = $("help");
    const open = force === undefined ? help.classList.contains("hidden") : force;
    help.classList.toggle("hidden", !open);
  }

  function onKey(event) {
    if (!reviewer) return;
    const key = event.key;
    if (state && state.editing) {
      if (key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submitEdit(); }
      if (key === "Escape") {
        event.preventDefault(); state.editing = false; $("editor").classList.add("hidden"); document.activeElement.blur();
      }
      return;
    }
    if (key === "?") { toggleHelp(); return; }
    if (key === "Escape") { toggleHelp(false); if (state && item) { state.picking = false; paint(); } return; }
    if (key === "u") { undo(); return; }
    if (!item) return;
    if (state.picking && /^[1-9]$/.test(key)) {
      const reason = item.reasons[Number(key) - 1];
      if (reason) { state.reason = reason; state.picking = false; paint(); }
      return;
    }
    const last = item.steps.length - 1;
    switch (key) {
      case "a": state.decision = "accept"; state.picking = false; break;
      case "r": state.decision = "reject"; state.reason = null; state.picking = true; break;
      case "j": state.cursor = Math.min(last, state.cursor + 1); break;
      case "k": state.cursor = Math.max(0, state.cursor - 1); break;
      case "g": if (last >= 0) state.ratings[state.cursor] = "good"; break;
      case "n": if (last >= 0) state.ratings[state.cursor] = "neutral"; break;
      case "b": if (last >= 0) state.ratings[state.cursor] = "bad"; break;
      case "w": if (last >= 0) state.firstWrong = state.firstWrong === state.cursor ? null : state.cursor; break;
      case "s": send("skip"); return;
      case "e":
        event.preventDefault();
        state.editing = true; $("editor").classList.remove("hidden"); $("edit-answer").focus(); return;
      case "Enter":
        if (state.decision === "accept") send("accept");
        else if (state.decision === "reject" && state.reason) send("reject", {reason: state.reason});
        else status("choose a (accept) or r + reason first", true);
        return;
      default: return;
    }
    paint();
  }

  function login() {
    $("login").classList.remove("hidden");
    $("name").addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || !$("name").value.trim()) return;
      event.preventDefault();
      event.stopPropagation();
      reviewer = $("name").value.trim();
      sessionStorage.setItem("foundry-reviewer", reviewer);
      $("login").classList.add("hidden");
      $("name").blur();
      start();
    });
    $("name").focus();
  }

  function start() {
    $("who").textContent = reviewer;
    load().catch((error) => status(error.message, true));
  }

  $("keys").replaceChildren(...KEYS.map(([k, what]) => {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.append(text("kbd", k));
    row.append(cell, text("td", what));
    return row;
  }));
  document.addEventListener("keydown", onKey);
  if (!token) status("no access token in the URL: open the link the server printed", true);
  if (reviewer) start(); else login();
})();
