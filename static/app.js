// Live Scoreboard: keeps the board live (WebSocket, else SSE, else polling, and back again),
// animates rank changes, and runs the action button (action token, then submit).
(() => {
  "use strict";
  const board = document.getElementById("live-board");
  const status = document.getElementById("live-status");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const UPGRADE_EVERY_MS = 30000;

  // ---- rank changes and the signed-in player's row -------------------------------------
  const me = board?.dataset.me || null;
  const limit = Number(board?.dataset.limit || 10);
  const ranksNow = () => new Map([...document.querySelectorAll("#board-rows tr[data-user-id]")]
    .map((tr) => [tr.dataset.userId, Number(tr.querySelector(".rank").textContent)]));
  let ranks = ranksNow();

  function decorate() {
    document.querySelectorAll("#board-rows tr[data-user-id]").forEach((tr, i) => {
      if (i >= limit) { tr.remove(); return; }
      const id = tr.dataset.userId;
      const rank = Number(tr.querySelector(".rank").textContent);
      const before = ranks.get(id);
      if (id === me) { tr.classList.add("me"); tr.setAttribute("aria-current", "true"); }
      if (before === undefined) tr.classList.add("moved-in");
      else if (rank < before) tr.classList.add("moved-up");
      else if (rank > before) tr.classList.add("moved-down");
    });
    ranks = ranksNow();
  }

  // ---- transports ------------------------------------------------------------------------
  let mode = null;        // "ws" | "sse" | "poll"
  let link = null;        // the element htmx connects through
  let failures = 0;
  let upgradeTimer = null;

  function setStatus(state, text) {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  }

  function connect(next) {
    if (link) htmx.remove(link);
    clearInterval(upgradeTimer);
    if (next !== mode) failures = 0; // a retry of the same transport keeps counting
    mode = next;
    link = document.createElement("div");
    link.hidden = true;
    link.className = "live-link";
    if (next === "ws") {
      link.setAttribute("hx-ext", "ws");
      link.setAttribute("ws-connect", board.dataset.live);
      setStatus("connecting", "connecting…");
    } else if (next === "sse") {
      link.setAttribute("hx-ext", "sse");
      link.setAttribute("sse-connect", board.dataset.sse);
      const sink = document.createElement("div");
      sink.setAttribute("sse-swap", "leaderboard_update,score_update");
      sink.setAttribute("hx-swap", "innerHTML");
      link.appendChild(sink);
      setStatus("connecting", "connecting…");
    } else {
      const seconds = Number(board.dataset.pollInterval || 5);
      link.setAttribute("hx-get", board.dataset.poll);
      link.setAttribute("hx-trigger", `load, every ${seconds}s`);
      link.setAttribute("hx-target", "#board-rows");
      link.setAttribute("hx-swap", "outerHTML");
      setStatus("polling", "polling");
    }
    document.body.appendChild(link);
    htmx.process(link);
    if (next !== "ws") upgradeTimer = setInterval(tryUpgrade, UPGRADE_EVERY_MS);
  }

  function fallBack() {
    connect(mode === "ws" ? "sse" : "poll");
  }

  // Probe the better transports now and then; switch back as soon as one answers.
  function tryUpgrade() {
    const url = new URL(board.dataset.live, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const probe = new WebSocket(url);
    let settled = false;
    probe.onmessage = () => { settled = true; probe.close(1000); connect("ws"); };
    probe.onclose = () => { if (!settled && mode === "poll") probeSse(); };
  }

  function probeSse() {
    const probe = new EventSource(board.dataset.sse);
    probe.addEventListener("leaderboard_update", () => { probe.close(); if (mode === "poll") connect("sse"); });
    probe.onerror = () => probe.close();
  }

  // Coming back after a server restart (close code 1012, SSE `reconnect`): a random 0.5-5 s, so
  // a fleet of pages does not arrive at once; after failures, exponential backoff with jitter.
  const RESTART = 1012;
  const restartDelay = () => 500 + Math.random() * 4500;
  const backoff = (retry) => Math.max(250, Math.random() * Math.min(30000, 1000 * 2 ** retry));
  let lastClose = null;
  if (window.htmx) {
    htmx.config.wsReconnectDelay = (retry) => (lastClose === RESTART ? restartDelay() : backoff(retry));
    // The ws extension asks for the delay before it tells anyone why the socket closed: note the
    // code first, from a listener added before the extension's own.
    htmx.createWebSocket = (url) => {
      const socket = new WebSocket(url, []);
      socket.binaryType = htmx.config.wsBinaryType;
      socket.addEventListener("close", (e) => { lastClose = e.code; });
      return socket;
    };
  }

  document.body.addEventListener("htmx:wsOpen", () => { failures = 0; lastClose = null; setStatus("live", "live"); });
  // The ws extension retries by itself only after these close codes; after any other, we do.
  const RETRIED = [1006, 1011, 1012, 1013];
  document.body.addEventListener("htmx:wsClose", (e) => {
    const code = e.detail?.event?.code;
    if (mode !== "ws" || e.target !== link) return;
    lastClose = code;
    if (code === RESTART) { setStatus("reconnecting", "server restarting, reconnecting…"); return; } // not a failure
    failures += 1;
    if (code === 1013 || failures >= 3) fallBack();
    else if (!RETRIED.includes(code)) setTimeout(() => { if (mode === "ws") connect("ws"); }, backoff(failures));
    else setStatus("reconnecting", "reconnecting…");
  });
  let sseRestart = false; // the server said `reconnect`: the error that follows is no failure
  document.body.addEventListener("htmx:sseOpen", (e) => {
    e.detail?.source?.addEventListener("reconnect", () => {
      sseRestart = true;
      setStatus("reconnecting", "server restarting, reconnecting…");
    });
  });
  document.body.addEventListener("htmx:wsError", () => {
    if (mode === "ws" && ++failures >= 3) fallBack();
  });
  document.body.addEventListener("htmx:sseOpen", () => { failures = 0; sseRestart = false; setStatus("live", "live (SSE)"); });
  document.body.addEventListener("htmx:sseError", () => {
    if (mode !== "sse" || sseRestart) return; // EventSource comes back after the server's retry
    if (++failures >= 3) fallBack();
    else setStatus("reconnecting", "reconnecting…");
  });

  // A phone that slept or lost its network: take a fresh snapshot when the page is back (a new
  // connection sends the current board at once; seq tells the page what is newer).
  let hiddenAt = null;
  const resync = () => { if (board && mode) { failures = 0; connect(mode === "poll" ? "ws" : mode); } };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") { hiddenAt = Date.now(); return; }
    if (hiddenAt !== null && Date.now() - hiddenAt > 10000) resync();
    hiddenAt = null;
  });
  window.addEventListener("offline", () => setStatus("offline", "offline, waiting for the network…"));
  window.addEventListener("online", () => { resync(); setStatus("reconnecting", "back online, reconnecting…"); });
  document.body.addEventListener("htmx:afterRequest", (e) => {
    if (mode === "poll" && e.detail.elt === link) {
      setStatus(e.detail.successful ? "polling" : "reconnecting", e.detail.successful ? "polling" : "offline, retrying…");
    }
  });
  document.body.addEventListener("htmx:oobAfterSwap", decorate);
  document.body.addEventListener("htmx:afterSwap", (e) => { if (e.detail.elt === link) decorate(); });

  if (board) {
    decorate();
    connect(window.WebSocket ? "ws" : "sse");
  }

  // ---- the action button -----------------------------------------------------------------
  const play = document.getElementById("play");
  const message = document.getElementById("play-message");
  let next = null; // {token, until}: the next_action_token from the last submit
  let holding = false; // waiting out a cooldown or limit

  async function post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    return { ok: r.ok, status: r.status, data };
  }

  function say(text, kind) {
    message.textContent = text;
    message.dataset.kind = kind || "info";
  }

  function explain(error) {
    const wait = error?.retry_after;
    const texts = {
      COOLDOWN: "Cooling down.", RATE_LIMITED: "Too many attempts.", ACCOUNT_SUSPENDED: "Your account is suspended for a while.",
      ACCOUNT_BANNED: "Your account is banned.", UNAUTHORIZED: "Please sign in again.",
    };
    const text = texts[error?.code] || error?.message || "Something went wrong.";
    return wait ? `${text} Try again in ${wait} s.` : text;
  }

  function holdFor(seconds) {
    if (!seconds) return;
    holding = true;
    let left = seconds;
    const tick = setInterval(() => {
      left -= 1;
      if (left <= 0) { clearInterval(tick); holding = false; setBlocked(false); say("Ready when you are."); }
    }, 1000);
  }

  function showStanding(d) {
    const standing = document.getElementById("my-standing");
    standing.querySelector(".my-score").textContent = d.new_score;
    standing.querySelector(".my-rank").textContent = d.rank ? `#${d.rank}` : "unranked";
    standing.classList.remove("bump");
    void standing.offsetWidth; // restart the animation
    standing.classList.add("bump");
  }

  // Percentile and the number of players, which a score changes without a top-10 push.
  async function refreshMe() {
    const boardSlug = play?.dataset.board || "main", period = play?.dataset.period || "all";
    const url = boardSlug === "main" && period === "all" ? "/api/v1/me"
      : `/api/v1/boards/${boardSlug}/users/${me}/rank?period=${period}`;
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) return;
    const m = await r.json();
    if (m.total_players === undefined) { // a board's rank: its players count from the percentile's base
      const line = document.getElementById("my-percentile");
      if (line) line.textContent = `Ahead of or level with ${m.percentile}% of players.`;
      return;
    }
    const total = document.getElementById("board-total");
    if (total) total.textContent = m.total_players;
    const line = document.getElementById("my-percentile");
    if (line && m.percentile !== null) {
      line.textContent = `Ahead of or level with ${m.percentile}% of ${m.total_players} players.`;
    }
  }

  const allTime = !play || (play.dataset.period || "all") === "all";
  const setBlocked = (blocked) => play.setAttribute("aria-disabled", String(blocked));

  play?.addEventListener("click", async () => {
    if (play.getAttribute("aria-busy") === "true" || holding) return; // keeps focus, unlike `disabled`
    setBlocked(true);
    play.setAttribute("aria-busy", "true");
    say("Working on it…");
    try {
      let token = next && next.until > Date.now() ? next.token : null;
      if (!token) {
        const issued = await post("/api/v1/actions/token", { action_type: play.dataset.action, board: play.dataset.board || "main" });
        if (!issued.ok) { say(explain(issued.data.error), "error"); holdFor(issued.data.error?.retry_after); return; }
        token = issued.data.action_token;
      }
      next = null;
      const r = await post("/api/v1/scores", { action_token: token });
      if (!r.ok) { say(explain(r.data.error), "error"); holdFor(r.data.error?.retry_after); return; }
      const d = r.data.data;
      if (d.next_action_token) next = { token: d.next_action_token, until: Date.now() + (d.next_action_expires_in - 5) * 1000 };
      if (allTime) showStanding(d); // a period's own score and rank come with its push
      const moved = d.previous_rank && d.rank && d.rank < d.previous_rank ? ` Up from #${d.previous_rank}!` : "";
      say(`+${d.points} points.${d.rank ? ` You are #${d.rank}.` : ""}${moved}`, "success");
      refreshMe();
    } catch (_) {
      say("Network problem; check your connection and try again.", "error");
    } finally {
      play.removeAttribute("aria-busy");
      setBlocked(holding);
    }
  });
})();
