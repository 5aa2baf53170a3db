// Live Scoreboard charts (uPlot, vendored): a player's score over time (hours for the last two
// days, days before), the admin's submissions per minute, and the players around you, kept live
// over the same transports as the board (WebSocket, else SSE, else polling). Every chart has its
// numbers in a table beside it; series differ by line style and label, not by colour alone.
(() => {
  "use strict";
  if (typeof uPlot === "undefined") return;
  const HOUR = 3600e3, DAY = 24 * HOUR;
  const css = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const when = (ms, withDate = true) => new Date(ms).toLocaleString(undefined, withDate
    ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit" });

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    return { ok: r.ok, status: r.status, data: r.ok ? await r.json() : null };
  }

  // ---- drawing ----------------------------------------------------------------------------
  function axes() {
    const text = css("--text", "#222"), line = css("--line", "#ddd");
    const axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const span = (u) => (u.scales.x.max || 0) - (u.scales.x.min || 0);
    // times in the reader's own locale and clock, like the table
    const times = (u, splits) => splits.map((s) => when(s * 1000, span(u) > DAY / 1000));
    return [{ ...axis, values: times }, { ...axis, size: 56 }];
  }

  function plot(figure, series, data) {
    const host = figure.querySelector(".chart-plot");
    const width = () => Math.max(host.clientWidth || figure.clientWidth || 300, 200);
    const opts = { width: width(), height: 220, series: [{}, ...series], axes: axes(), legend: { live: false },
      cursor: { drag: { x: false, y: false } }, scales: { x: { time: true } } };
    if (figure._plot && figure._plot.series.length === series.length + 1) { figure._plot.setData(data); return; }
    figure._plot?.destroy();
    host.textContent = "";
    figure._plot = new uPlot(opts, data, host);
    if (!figure._observed) {
      figure._observed = true;
      new ResizeObserver(() => figure._plot?.setSize({ width: width(), height: 220 })).observe(host);
    }
  }

  function fillTable(figure, rows) {
    const body = figure.querySelector(".chart-numbers tbody");
    body.replaceChildren(...rows.map((cells) => {
      const tr = document.createElement("tr");
      cells.forEach((value, i) => {
        const td = document.createElement("td");
        td.textContent = value;
        if (i > 0) td.className = "num";
        tr.append(td);
      });
      return tr;
    }));
  }

  // ---- a player's score over time ---------------------------------------------------------
  async function history(figure) {
    const base = `/api/v1/users/${figure.dataset.user}/history?board=${figure.dataset.board}&period=${figure.dataset.period}`;
    const now = Date.now(), split = new Date(now - 2 * DAY).toISOString();
    const [days, hours] = await Promise.all([
      getJSON(`${base}&bucket=day&from=${new Date(now - 90 * DAY).toISOString()}&until=${split}`),
      getJSON(`${base}&bucket=hour&from=${split}`),
    ]);
    const empty = figure.querySelector(".chart-empty");
    if (!hours.ok) { if (empty) empty.hidden = false; fillTable(figure, []); return; }
    if (empty) empty.hidden = true;
    let points = [...(days.ok ? days.data.points : []), ...hours.data.points];
    const first = points.findIndex((p) => p.score !== 0);
    if (first > 1) points = points.slice(first - 1); // one zero before the climb, not ninety days of them
    const xs = points.map((p) => Date.parse(p.at) / 1000), ys = points.map((p) => p.score);
    const flags = JSON.parse(figure.dataset.flags || "[]");
    const marks = xs.map(() => null);
    flags.forEach((f) => { // on the line, at the first point at or after the flag
      const t = Date.parse(f.at) / 1000, i = xs.findIndex((x) => x >= t);
      if (i >= 0) marks[i] = ys[i];
    });
    // a step at each bucket's end: the score holds until the next point, it does not slide
    const series = [{ label: "Score", stroke: css("--accent", "#2f6fed"), width: 2, points: { show: true, size: 5 },
      paths: uPlot.paths.stepped({ align: 1 }) }];
    const data = [xs, ys];
    if (flags.length) {
      series.push({ label: "Fraud flag (large rings)", stroke: css("--danger", "#c0392b"), width: 0, paths: () => null,
        points: { show: true, size: 11, width: 2, fill: "transparent" } });
      data.push(marks);
    }
    plot(figure, series, data);
    const flagged = new Set(marks.map((m, i) => (m === null ? -1 : i)));
    fillTable(figure, points.map((p, i) => [when(Date.parse(p.at)) + (flagged.has(i) ? " (flag)" : ""), String(p.score)]));
  }

  // ---- submissions per minute (admin) -------------------------------------------------------
  async function activity(figure) {
    const r = await getJSON(figure.dataset.src);
    if (!r.ok) return;
    const minutes = r.data.minutes;
    const xs = minutes.map((m) => Date.parse(m.at) / 1000);
    plot(figure, [
      { label: "Accepted (solid)", stroke: css("--accent", "#2f6fed"), width: 2 },
      { label: "Rejected (dashed)", stroke: css("--danger", "#c0392b"), width: 2, dash: [6, 4] },
    ], [xs, minutes.map((m) => m.accepted), minutes.map((m) => m.rejected)]);
    fillTable(figure, minutes.map((m) => [when(Date.parse(m.at), false), String(m.accepted), String(m.rejected)]));
  }

  // ---- the players around you, live ---------------------------------------------------------
  const around = document.querySelector("[data-around]");
  const status = document.getElementById("live-status");
  const setStatus = (state, text) => { if (status) { status.dataset.state = state; status.textContent = text; } };

  function showAround(data) {
    if (!around) return;
    const me = Number(around.dataset.around);
    const mine = data.leaderboard.find((e) => e.user_id === me);
    around.hidden = !mine || mine.rank <= 10; // the top 10 is on the board already
    const body = around.querySelector("tbody");
    body.replaceChildren(...data.leaderboard.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.userId = e.user_id;
      if (e.user_id === me) { tr.className = "me"; tr.setAttribute("aria-current", "true"); }
      const name = e.user_id === me ? `${e.display_name} (you)` : e.display_name;
      [`#${e.rank}`, name, String(e.score)].forEach((v, i) => {
        const td = document.createElement("td"); td.textContent = v; if (i === 2) td.className = "num"; tr.append(td);
      });
      return tr;
    }));
  }

  function onEvent(message) {
    if (message.type === "around_update") showAround(message.data);
    else if (message.type === "score_update") document.querySelectorAll('[data-chart="history"]').forEach(history);
  }

  function connect(attempt = 0) {
    if (!around) return;
    const radius = around.dataset.radius || "3";
    const delay = Math.min(30000, 500 * 2 ** attempt) * (0.5 + Math.random());
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/scoreboard?around=${radius}`);
    let opened = false;
    ws.onopen = () => { opened = true; attempt = 0; setStatus("live", "live"); };
    ws.onmessage = (e) => onEvent(JSON.parse(e.data));
    ws.onclose = (e) => {
      if (e.code === 1012) { setStatus("connecting", "server restarting, reconnecting…"); setTimeout(() => connect(0), 500 + Math.random() * 4500); return; }
      if (opened) { setStatus("connecting", "reconnecting…"); setTimeout(() => connect(attempt + 1), delay); return; }
      sse(attempt); // no WebSocket here: server-sent events
    };
  }

  function sse(attempt) {
    const radius = around.dataset.radius || "3";
    const source = new EventSource(`/events/scoreboard?around=${radius}`);
    let opened = false;
    source.onopen = () => { opened = true; setStatus("live", "live (events)"); };
    ["around_update", "score_update"].forEach((type) =>
      source.addEventListener(type, (e) => onEvent({ type, ...JSON.parse(e.data) })));
    source.onerror = () => {
      if (opened) return; // EventSource reconnects by itself
      source.close();
      poll(attempt);
    };
  }

  async function poll(attempt) {
    setStatus("polling", "updating every few seconds");
    const me = around.dataset.around, radius = around.dataset.radius || "3";
    const r = await getJSON(`/api/v1/leaderboard/around/${me}?radius=${radius}`);
    if (r.ok) showAround(r.data);
    setTimeout(() => (attempt < 3 ? poll(attempt + 1) : connect(0)), 5000);
  }

  // A theme switch with the page open: draw again in the new colours.
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    document.querySelectorAll("[data-chart]").forEach((figure) => {
      figure._plot?.destroy();
      figure._plot = null;
      (figure.dataset.chart === "history" ? history : activity)(figure);
    });
  });

  // ---- start ------------------------------------------------------------------------------
  document.querySelectorAll('[data-chart="history"]').forEach(history);
  document.querySelectorAll('[data-chart="activity"]').forEach((figure) => {
    activity(figure);
    setInterval(() => activity(figure), Number(figure.dataset.every || 5) * 1000);
  });
  connect();
})();
