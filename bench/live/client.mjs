// Viewer clients for bench/live.py: N connections in one Node event loop.
//
//   node client.mjs '{"mode":"ws","host":"127.0.0.1","port":8000,"n":1000}'
//   node client.mjs '{"mode":"ws","port":8000,"n":1000,"query":"board=cup&period=all","board":"cup"}'
//
// mode: ws     GET /ws/scoreboard with the `ws` package, offering permessage-deflate as browsers do
//       sse    GET /events/scoreboard with node:http, the event stream parsed by hand
//       sio    the Socket.IO baseline with the official socket.io-client (websocket transport only)
//       sioraw the Socket.IO baseline spoken directly over `ws` (engine.io v4 framing), so that the
//              client does exactly the work of the `ws` mode and only the server differs
//
// Every received leaderboard_update is recorded per connection as (seq, receive time). Receive
// times are CLOCK_MONOTONIC in milliseconds (process.hrtime), the same clock as Python's
// time.monotonic() in the driver, so no wall-clock slew can creep in between the two processes.
//
// Control on stdin, one JSON object per line; answers on stdout as `STATUS {...}` / `RESULT {...}`:
//   {"cmd":"status","seq":S}   counts, and how many connections have seen seq >= S
//   {"cmd":"finish","commits":[[seq, t_response_ms, t_send_ms, t_event_ms?], ...],"final_seq":S}
//                              latency of every commit on every connection, then exit
//   {"cmd":"sample"}           the raw text of the newest message connection 0 received
//   finish may also carry "windows": {"name": [t0_ms, t1_ms], ...} (latency of the commits whose
//   200 arrived in each window, separately) and "restart_at": t_ms (goodbyes and returns timed
//   from then).
//
// With "reconnect": true (bench/live.py --restart) a connection that ends comes back as
// static/app.js does: after a server restart (WebSocket close 1012: a random 0.5-5 s drawn by the
// client; SSE `event: reconnect`: its retry_ms, as EventSource does, sending Last-Event-ID) and
// after anything else with exponential backoff and jitter. Its first message on the new connection
// (the snapshot) ends the outage; seq tracking carries on across connections.
import http from "node:http";
import readline from "node:readline";
import { monitorEventLoopDelay } from "node:perf_hooks";
import WebSocket from "ws";
import { io } from "socket.io-client";

const cfg = Object.assign(
  {
    mode: "ws",
    host: "127.0.0.1",
    port: 8000,
    n: 100,
    concurrency: 200, // handshakes in flight
    sources: ["127.0.0.1"], // local addresses, round robin (each gives ~28k ephemeral ports)
    parse: "seq", // "seq": find seq by a byte scan (plus a full JSON check on a sample); "full": JSON.parse every message
    checkEvery: 97, // with parse=seq: JSON.parse and check every k-th message, and every connection's first
    deflate: true, // offer permessage-deflate (browsers always do)
    connectTimeoutMs: 20000,
    offset: 0, // id of this process's first connection (several client processes share one run)
    query: "", // appended to /ws/scoreboard and /events/scoreboard, e.g. "board=cup&period=all" (SPEC §14)
    board: null, // with a board, every checked leaderboard_update must name it in data.board
    reconnect: false, // come back after the connection ends, as static/app.js does
  },
  JSON.parse(process.argv[2] || "{}"),
);

const mono = () => Number(process.hrtime.bigint()) / 1e6;
const out = (tag, obj) => process.stdout.write(`${tag} ${JSON.stringify(obj)}\n`);

const conns = [];
const stats = {
  attempted: 0,
  opened: 0,
  failed: 0,
  closed: 0,
  messages: 0,
  bytes: 0,
  checked: 0,
  invalid: 0,
  stale: 0, // a leaderboard_update not newer than the one before it on the same connection
  other: 0, // messages of other types
  errors: {},
  closeCodes: {},
  connectMs: [],
  firstMessageMs: [],
  reopened: 0, // connections opened again after an outage (cfg.reconnect)
  reopenFailed: 0, // reconnection attempts that failed (each followed by a backoff)
  goodbyes: {}, // how open connections ended: a close code, "reconnect" (SSE event), "end", "error"
  notNewer: 0, // snapshots on a new connection no newer than what the connection had (not "stale")
};
// One outage = from a connection's end (the server's goodbye) to the first message on its new
// connection. Kept per outage, over every connection.
const outages = {
  waitMs: [], // the delay waited before reconnecting (the client's draw, the server's retry_ms, a backoff)
  openMs: [], // goodbye → the new connection open
  backMs: [], // goodbye → its first message: how long the viewer was away
  goodbyeAt: [], // receive times of the goodbyes (CLOCK_MONOTONIC ms)
  backAt: [], // times of the first messages after an outage
};
let sampleText = null;
// How late this event loop runs: receive times are taken in the message callbacks, so a busy client
// stamps late. Reset by {"cmd":"mark"} when the measured window starts.
const LOOP_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
loopDelay.enable();
let sampleBytes = 0;
let rampStart = 0;
let rampDone = 0;

function noteError(err) {
  const key = String((err && (err.code || err.message)) || err).slice(0, 80);
  stats.errors[key] = (stats.errors[key] || 0) + 1;
}

// ---- coming back (cfg.reconnect), as static/app.js does -------------------------------------------

const RESTART = 1012;
let finishing = false; // the run is over: connections closed now stay closed
const restartDelay = () => 500 + Math.random() * 4500;
const backoff = (retry) => Math.max(250, Math.random() * Math.min(30000, 1000 * 2 ** retry));

// A connection is open: the first time, or again after an outage.
function opened(c) {
  const t = mono();
  c.open = true;
  c.opens += 1;
  if (c.opens === 1) {
    stats.opened += 1;
    stats.connectMs.push(t - c.started);
  } else {
    stats.reopened += 1;
    c.failures = 0;
    if (c.away !== null) outages.openMs.push(t - c.away);
  }
}

// An open connection ended (`reason`: its close code, "reconnect", "end", "error"); `retryMs`: the
// server's own delay (SSE reconnect). Called once per connection that was open.
function gone(c, reason, retryMs) {
  const t = mono();
  stats.goodbyes[reason] = (stats.goodbyes[reason] || 0) + 1;
  c.goodbyes += 1;
  if (!cfg.reconnect || finishing) return;
  if (c.away === null) {
    c.away = c.goodbyeAt ?? t; // an SSE goodbye is its reconnect event, just before the end
    outages.goodbyeAt.push(c.away);
  }
  c.goodbyeAt = null;
  const restart = reason === String(RESTART) || reason === "reconnect";
  later(c, restart ? (retryMs ?? restartDelay()) : backoff(c.failures++));
}

function later(c, wait) {
  outages.waitMs.push(wait);
  setTimeout(() => reopen(c), wait);
}

function reopen(c) {
  c.open = false;
  c.closed = false;
  c.failed = false;
  connect(c, () => {
    if (c.open) return;
    stats.reopenFailed += 1; // refused, an error status, a timeout: back off and try again
    later(c, backoff(c.failures++));
  });
}

function record(c, seq, t, raw) {
  if (c.seqs.length === 0) stats.firstMessageMs.push(t - c.started);
  const resync = c.away !== null; // the first message on a new connection: its snapshot
  if (resync) {
    outages.backMs.push(t - c.away);
    outages.backAt.push(t);
    c.away = null;
    c.backs += 1;
  }
  if (seq <= c.last) {
    if (resync) stats.notNewer += 1;
    else stats.stale += 1;
    return;
  }
  c.last = seq;
  c.seqs.push(seq);
  c.times.push(t);
  if (c.id === 0 && cfg.offset === 0 && raw !== undefined) {
    sampleText = raw;
  }
}

function checkJson(text, seq) {
  stats.checked += 1;
  try {
    const m = JSON.parse(text);
    const board = m.data && m.data.leaderboard;
    if (m.type !== "leaderboard_update" || m.seq !== seq || !Array.isArray(board) || board.length > 10 ||
        (cfg.board !== null && m.data.board !== cfg.board)) {
      stats.invalid += 1;
    }
  } catch {
    stats.invalid += 1;
  }
}

const SEQ = Buffer.from('"seq":');
const LBU = Buffer.from('"leaderboard_update"');

function seqFromBuffer(buf, from = 0) {
  const i = buf.indexOf(SEQ, from);
  if (i < 0) return -1;
  let n = 0;
  let j = i + SEQ.length;
  let any = false;
  for (; j < buf.length; j++) {
    const d = buf[j] - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
    any = true;
  }
  return any ? n : -1;
}

// ---- transports ------------------------------------------------------------------------------

function connWs(c, done) {
  const url = `ws://${cfg.host}:${cfg.port}/ws/scoreboard${cfg.query ? `?${cfg.query}` : ""}`;
  const ws = new WebSocket(url, {
    perMessageDeflate: cfg.deflate,
    localAddress: c.source,
    handshakeTimeout: cfg.connectTimeoutMs,
  });
  c.sock = ws;
  ws.on("open", () => {
    opened(c);
    c.extensions = ws.extensions;
    done();
  });
  ws.on("message", (data, isBinary) => {
    const t = mono();
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    stats.messages += 1;
    stats.bytes += buf.length;
    const lbu = buf.indexOf(LBU);
    if (lbu < 0 || lbu > 16) {
      stats.other += 1;
      return;
    }
    let seq;
    if (cfg.parse === "full") {
      const m = JSON.parse(buf.toString("utf8"));
      seq = m.seq;
      stats.checked += 1;
      if (!Array.isArray(m.data && m.data.leaderboard)) stats.invalid += 1;
    } else {
      seq = seqFromBuffer(buf);
      if (c.seqs.length === 0 || stats.messages % cfg.checkEvery === 0) checkJson(buf.toString("utf8"), seq);
    }
    record(c, seq, t, c.id === 0 ? buf : undefined);
  });
  ws.on("error", (err) => {
    noteError(err);
    if (c.sock === ws && !c.open && !c.failed) {
      c.failed = true;
      if (c.opens === 0) stats.failed += 1;
      done();
    }
  });
  ws.on("close", (code) => {
    if (c.sock !== ws) return;
    if (c.open && !c.closed) {
      c.closed = true;
      stats.closed += 1;
      stats.closeCodes[code] = (stats.closeCodes[code] || 0) + 1;
      gone(c, String(code));
    } else if (!c.open && !c.failed) {
      c.failed = true; // refused during the handshake (1013: over the limit; 1012: a stopping worker)
      if (c.opens === 0) stats.failed += 1;
      noteError(`close ${code} before open`);
      done();
    }
  });
}

function connSse(c, done) {
  const headers = { Accept: "text/event-stream", "Cache-Control": "no-cache" };
  if (c.opens > 0 && c.last >= 0) headers["Last-Event-ID"] = String(c.last); // as EventSource does
  const req = http.request({
    host: cfg.host,
    port: cfg.port,
    path: `/events/scoreboard${cfg.query ? `?${cfg.query}` : ""}`,
    headers,
    agent: false,
    localAddress: c.source,
    timeout: cfg.connectTimeoutMs,
  });
  c.sock = req;
  req.on("response", (res) => {
    if (res.statusCode !== 200) {
      noteError(`HTTP ${res.statusCode}`);
      c.failed = true;
      if (c.opens === 0) stats.failed += 1;
      res.resume();
      done();
      return;
    }
    req.setTimeout(0);
    opened(c);
    done();
    res.setEncoding("utf8");
    let pending = "";
    res.on("data", (chunk) => {
      const t = mono();
      stats.bytes += chunk.length;
      pending += chunk;
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        let event = "message";
        let id = null;
        let data = null;
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("id:")) id = line.slice(3).trim();
          else if (line.startsWith("data:")) data = data === null ? line.slice(5).trimStart() : `${data}\n${line.slice(5).trimStart()}`;
        }
        if (data === null) continue; // retry: hint, heartbeat comment
        stats.messages += 1;
        if (event === "reconnect") {
          c.goodbyeAt = t; // the server is restarting; the stream ends next
          try {
            c.retryMs = JSON.parse(data).retry_ms;
          } catch {
            noteError("reconnect event without retry_ms");
          }
        }
        if (event !== "leaderboard_update") {
          stats.other += 1;
          continue;
        }
        const seq = Number(id);
        if (cfg.parse === "full" || c.seqs.length === 0 || stats.messages % cfg.checkEvery === 0) checkJson(data, seq);
        record(c, seq, t, c.id === 0 ? data : undefined);
      }
    });
    res.on("end", () => {
      if (c.sock === req && !c.closed) {
        c.closed = true;
        stats.closed += 1;
        stats.closeCodes.end = (stats.closeCodes.end || 0) + 1;
        const retryMs = c.retryMs;
        c.retryMs = null;
        gone(c, retryMs != null ? "reconnect" : "end", retryMs ?? undefined);
      }
    });
    res.on("error", noteError);
    // a stream cut off before its end (the connection closed or reset mid-body): EventSource
    // treats it as an error and reconnects; so do we
    res.on("close", () => {
      if (c.sock === req && !c.closed) {
        c.closed = true;
        stats.closed += 1;
        stats.closeCodes.aborted = (stats.closeCodes.aborted || 0) + 1;
        c.retryMs = null;
        gone(c, "aborted");
      }
    });
  });
  req.on("timeout", () => req.destroy(new Error("connect timeout")));
  req.on("error", (err) => {
    noteError(err);
    if (c.sock !== req) return;
    if (!c.open && !c.failed) {
      c.failed = true;
      if (c.opens === 0) stats.failed += 1;
      done();
    } else if (c.open && !c.closed) {
      c.closed = true;
      stats.closed += 1;
      gone(c, "error");
    }
  });
  req.end();
}

function connSio(c, done) {
  const sock = io(`http://${cfg.host}:${cfg.port}`, {
    transports: ["websocket"],
    reconnection: false,
    forceNew: true,
    perMessageDeflate: cfg.deflate ? { threshold: 1024 } : false,
    localAddress: c.source,
    timeout: cfg.connectTimeoutMs,
  });
  c.sock = sock;
  sock.on("connect", () => {
    opened(c);
    try {
      c.extensions = sock.io.engine.transport.ws.extensions;
    } catch {}
    done();
  });
  sock.on("leaderboard_update", (m) => {
    const t = mono();
    stats.messages += 1;
    stats.checked += 1;
    if (!Array.isArray(m && m.data && m.data.leaderboard)) stats.invalid += 1;
    record(c, m.seq, t, c.id === 0 ? JSON.stringify(m) : undefined);
  });
  sock.on("connect_error", (err) => {
    noteError(err);
    if (!c.open && !c.failed) {
      c.failed = true;
      stats.failed += 1;
      done();
    }
  });
  sock.on("disconnect", (reason) => {
    if (c.open && !c.closed) {
      c.closed = true;
      stats.closed += 1;
      stats.closeCodes[reason] = (stats.closeCodes[reason] || 0) + 1;
    }
  });
}

function connSioRaw(c, done) {
  const url = `ws://${cfg.host}:${cfg.port}/socket.io/?EIO=4&transport=websocket`;
  const ws = new WebSocket(url, {
    perMessageDeflate: cfg.deflate,
    localAddress: c.source,
    handshakeTimeout: cfg.connectTimeoutMs,
  });
  c.sock = ws;
  ws.on("message", (data) => {
    const t = mono();
    const buf = Buffer.isBuffer(data) ? data : Buffer.concat([].concat(data));
    const kind = buf[0];
    if (kind === 0x30 /* '0' open */) {
      ws.send("40");
      return;
    }
    if (kind === 0x32 /* '2' ping */) {
      ws.send("3");
      return;
    }
    if (kind !== 0x34 /* '4' message */) return;
    if (buf[1] === 0x30 /* '0' connect */ && !c.open) {
      opened(c);
      c.extensions = ws.extensions;
      done();
      return;
    }
    if (buf[1] !== 0x32 /* '2' event */) return;
    stats.messages += 1;
    stats.bytes += buf.length;
    if (buf.indexOf(LBU) !== 3) {
      stats.other += 1;
      return;
    }
    const seq = seqFromBuffer(buf);
    if (cfg.parse === "full" || c.seqs.length === 0 || stats.messages % cfg.checkEvery === 0) {
      const text = buf.toString("utf8", 2);
      stats.checked += 1;
      try {
        const [name, m] = JSON.parse(text);
        if (name !== "leaderboard_update" || m.seq !== seq || !Array.isArray(m.data.leaderboard)) stats.invalid += 1;
      } catch {
        stats.invalid += 1;
      }
    }
    record(c, seq, t, c.id === 0 ? buf : undefined);
  });
  ws.on("error", (err) => {
    noteError(err);
    if (!c.open && !c.failed) {
      c.failed = true;
      stats.failed += 1;
      done();
    }
  });
  ws.on("close", (code) => {
    if (!c.open && !c.failed) {
      c.failed = true;
      stats.failed += 1;
      done();
    } else if (c.open && !c.closed) {
      c.closed = true;
      stats.closed += 1;
      stats.closeCodes[code] = (stats.closeCodes[code] || 0) + 1;
    }
  });
}

const connect = { ws: connWs, sse: connSse, sio: connSio, sioraw: connSioRaw }[cfg.mode];
if (!connect) throw new Error(`unknown mode ${cfg.mode}`);

// ---- ramp ----------------------------------------------------------------------------------------

function ramp() {
  rampStart = mono();
  let next = 0;
  let inflight = 0;
  let settled = 0;
  const launch = () => {
    while (inflight < cfg.concurrency && next < cfg.n) {
      const c = {
        id: next,
        source: cfg.sources[(cfg.offset + next) % cfg.sources.length],
        started: mono(),
        open: false,
        failed: false,
        closed: false,
        last: -1,
        seqs: [],
        times: [],
        opens: 0, // times opened (more than once with cfg.reconnect)
        goodbyes: 0, // times an open connection ended
        backs: 0, // outages ended by a first message on a new connection
        failures: 0, // failed attempts in a row (the backoff's exponent), as app.js counts them
        away: null, // start of the current outage, if any
        goodbyeAt: null, // receive time of an SSE reconnect event
        retryMs: null, // its retry_ms
      };
      conns.push(c);
      next += 1;
      inflight += 1;
      stats.attempted += 1;
      let once = false;
      const timer = setTimeout(() => {
        if (!once) {
          noteError("connect timeout");
          c.failed = true;
          stats.failed += 1;
          finishOne();
        }
      }, cfg.connectTimeoutMs + 5000);
      const finishOne = () => {
        if (once) return;
        once = true;
        clearTimeout(timer);
        inflight -= 1;
        settled += 1;
        if (settled === cfg.n) {
          rampDone = mono();
          out("READY", status());
        } else setImmediate(launch);
      };
      connect(c, finishOne);
    }
  };
  launch();
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(arr) {
  const s = Float64Array.from(arr).sort();
  if (s.length === 0) return { n: 0 };
  let sum = 0;
  for (const v of s) sum += v;
  const r = (v) => Math.round(v * 100) / 100;
  return {
    n: s.length,
    min: r(s[0]),
    p50: r(pct(s, 50)),
    p90: r(pct(s, 90)),
    p95: r(pct(s, 95)),
    p99: r(pct(s, 99)),
    p999: r(pct(s, 99.9)),
    max: r(s[s.length - 1]),
    mean: r(sum / s.length),
  };
}

function status(seq) {
  let open = 0;
  let atSeq = 0;
  let withSnapshot = 0;
  let away = 0;
  const extensions = {};
  for (const c of conns) {
    if (c.open && !c.closed) open += 1;
    if (c.away !== null) away += 1;
    if (c.seqs.length > 0) withSnapshot += 1;
    if (seq !== undefined && c.last >= seq) atSeq += 1;
    if (c.open) extensions[c.extensions || ""] = (extensions[c.extensions || ""] || 0) + 1;
  }
  const cpu = process.cpuUsage();
  return {
    attempted: stats.attempted,
    opened: stats.opened,
    open,
    failed: stats.failed,
    closed: stats.closed,
    with_snapshot: withSnapshot,
    at_seq: atSeq,
    away, // in an outage: sent away and not yet back (first message on a new connection)
    reopened: stats.reopened,
    messages: stats.messages,
    bytes: stats.bytes,
    errors: stats.errors,
    close_codes: stats.closeCodes,
    extensions,
    ramp_s: rampDone ? Math.round(rampDone - rampStart) / 1000 : null,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    rss_mb: Math.round(process.memoryUsage().rss / 1048576),
  };
}

// Every (connection, change) pair: the receive time of the connection's first leaderboard_update
// with seq >= the change's, minus the change's 200 (and send, and score_update) times.
function pairs(commits) {
  const total = conns.length * commits.length;
  const fromResp = new Float64Array(total);
  const fromSend = new Float64Array(total);
  const fromEvent = new Float64Array(total);
  let ke = 0;
  let k = 0;
  let missing = 0;
  let negative = 0;
  const perConnP95 = [];
  const perConnMax = [];
  for (const c of conns) {
    if (!c.opens) continue;
    let j = 0;
    const mine = [];
    for (const [seq, tResp, tSend, tEvent] of commits) {
      while (j < c.seqs.length && c.seqs[j] < seq) j += 1;
      if (j >= c.seqs.length) {
        missing += 1;
        continue;
      }
      const lat = c.times[j] - tResp;
      if (lat < 0) negative += 1;
      fromResp[k] = lat;
      fromSend[k] = c.times[j] - (tSend ?? tResp);
      if (tEvent !== undefined && tEvent !== null) fromEvent[ke++] = c.times[j] - tEvent;
      mine.push(lat);
      k += 1;
    }
    if (mine.length) {
      mine.sort((a, b) => a - b);
      perConnP95.push(pct(mine, 95));
      perConnMax.push(mine[mine.length - 1]);
    }
  }
  return {
    fromResp: fromResp.subarray(0, k),
    fromSend: fromSend.subarray(0, k),
    fromEvent: fromEvent.subarray(0, ke),
    missing,
    negative,
    perConnP95,
    perConnMax,
  };
}

// 0.1 ms buckets, sparse, so that several client processes' results can be merged exactly
function hist(arr) {
  const h = {};
  for (const v of arr) {
    const b = Math.floor(v * 10);
    h[b] = (h[b] || 0) + 1;
  }
  return h;
}

const round2 = (v) => Math.round(v * 100) / 100;

function finish(commits, finalSeq, windows = {}, restartAt = null) {
  commits.sort((a, b) => a[0] - b[0]);
  const all = pairs(commits);
  const k = all.fromResp.length;
  // the same per window: the commits whose 200 arrived in [t0, t1)
  const perWindow = {};
  for (const [name, [t0, t1]] of Object.entries(windows)) {
    const w = pairs(commits.filter((x) => x[1] >= t0 && x[1] < t1));
    perWindow[name] = {
      samples: w.fromResp.length,
      missing: w.missing,
      latency_ms: summary(w.fromResp),
      hist_latency: hist(w.fromResp),
      per_connection_max_raw: w.perConnMax.map(round2),
    };
  }
  const since = (arr) => (restartAt === null ? [] : arr.map((t) => round2(t - restartAt)));
  const perHalfSecond = {}; // returns counted per 0.5 s from the restart (key: the bucket's start, ms)
  for (const t of since(outages.backAt)) {
    const b = Math.floor(t / 500) * 500;
    perHalfSecond[b] = (perHalfSecond[b] || 0) + 1;
  }
  let away = 0;
  let sentAway = 0;
  let back = 0;
  let bounced = 0;
  for (const c of conns) {
    if (c.away !== null) away += 1;
    if (c.goodbyes > 0) sentAway += 1;
    if (c.backs > 0) back += 1;
    if (c.goodbyes > 1) bounced += 1;
  }
  const lastSeqs = {};
  let onFinal = 0;
  let openOnFinal = 0;
  let open = 0;
  for (const c of conns) {
    if (c.open && !c.closed) open += 1;
    lastSeqs[c.last] = (lastSeqs[c.last] || 0) + 1;
    if (c.last === finalSeq) {
      onFinal += 1;
      if (c.open && !c.closed) openOnFinal += 1;
    }
  }
  // the histogram's values include the sampling interval itself: subtract it
  const ms = (ns) => Math.max(0, Math.round(ns / 1e4) / 100 - LOOP_RESOLUTION_MS);
  let messagesRecorded = 0;
  for (const c of conns) messagesRecorded += c.seqs.length;
  const cpu = process.cpuUsage();
  return {
    mode: cfg.mode,
    n: cfg.n,
    opened: stats.opened,
    open_at_end: open,
    failed: stats.failed,
    closed: stats.closed,
    close_codes: stats.closeCodes,
    errors: stats.errors,
    final_seq: finalSeq,
    on_final_seq: onFinal,
    open_on_final_seq: openOnFinal,
    last_seq_histogram: lastSeqs,
    commits: commits.length,
    samples: k,
    missing: all.missing,
    negative: all.negative,
    latency_ms: summary(all.fromResp),
    latency_from_send_ms: summary(all.fromSend),
    latency_from_event_ms: summary(all.fromEvent),
    hist_latency: hist(all.fromResp),
    hist_from_send: hist(all.fromSend),
    hist_from_event: hist(all.fromEvent),
    per_connection_p95: all.perConnP95.map(round2),
    windows: perWindow,
    reopened: stats.reopened,
    reopen_failed: stats.reopenFailed,
    goodbyes: stats.goodbyes,
    not_newer: stats.notNewer,
    viewers_sent_away: sentAway,
    viewers_back: back,
    viewers_away_at_end: away,
    viewers_sent_away_twice: bounced,
    outage_wait_ms_raw: outages.waitMs.map(round2),
    outage_open_ms_raw: outages.openMs.map(round2),
    outage_ms_raw: outages.backMs.map(round2),
    goodbye_after_restart_ms_raw: since(outages.goodbyeAt),
    back_after_restart_ms_raw: since(outages.backAt),
    back_per_half_second: perHalfSecond,
    connect_ms_raw: stats.connectMs.map((v) => Math.round(v * 10) / 10),
    first_message_ms_raw: stats.firstMessageMs.map((v) => Math.round(v * 10) / 10),
    event_loop_delay_ms: {
      p50: ms(loopDelay.percentile(50)),
      p99: ms(loopDelay.percentile(99)),
      max: ms(loopDelay.max),
      mean: ms(loopDelay.mean),
    },
    per_connection_p95_ms: summary(all.perConnP95),
    connect_ms: summary(stats.connectMs),
    first_message_ms: summary(stats.firstMessageMs),
    messages: stats.messages,
    messages_recorded: messagesRecorded,
    stale: stats.stale,
    other: stats.other,
    checked: stats.checked,
    invalid: stats.invalid,
    bytes: stats.bytes,
    sample_bytes: sampleText ? Buffer.byteLength(sampleText) : 0,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    rss_mb: Math.round(process.memoryUsage().rss / 1048576),
  };
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (msg.cmd === "status") out("STATUS", status(msg.seq));
  else if (msg.cmd === "sample") out("SAMPLE", { text: sampleText ? sampleText.toString() : null });
  else if (msg.cmd === "mark") {
    loopDelay.reset();
    out("MARK", {});
  }
  else if (msg.cmd === "finish") {
    finishing = true;
    const result = `RESULT ${JSON.stringify(finish(msg.commits, msg.final_seq, msg.windows, msg.restart_at))}\n`;
    for (const c of conns) {
      try {
        if (cfg.mode === "sse") c.sock.destroy();
        else if (cfg.mode === "sio") c.sock.disconnect();
        else c.sock.terminate();
      } catch {}
    }
    // stdout is a pipe (asynchronous in Node): exit only once the whole result is written
    process.stdout.write(result, () => setTimeout(() => process.exit(0), 200));
  }
});
rl.on("close", () => process.exit(0));
process.on("uncaughtException", (err) => {
  noteError(err);
  process.stderr.write(`uncaught: ${err && err.stack}\n`);
});

ramp();
