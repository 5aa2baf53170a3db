// Load client for the Live Scoreboard benchmark; bench/run.py drives it.
//
//   node bench/load.mjs register --url http://127.0.0.1:8101 --players 64 --players-file out/players.json
//   node bench/load.mjs write    --url ... --players-file out/players.json --concurrency 64 --duration 20
//   node bench/load.mjs write    --url ... --players-file out/players.json --board cup   # score on a board
//   node bench/load.mjs read     --url ... --path /api/v1/leaderboard --concurrency 128 --duration 20
//
// One event loop, undici keep-alive connections (one per virtual user), closed loops: each
// virtual user sends its next request when the previous answer arrived. Progress goes to
// stdout as JSON lines: {"event": "measure_start"}, {"event": "measure_end"}, then
// {"event": "result", ...}. Only requests that complete inside the measured window count
// toward rates and latencies; every accepted update counts toward the consistency totals.

import { readFileSync, writeFileSync } from "node:fs";
import { Pool } from "undici";

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const opts = { mode };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, "").replace(/-/g, "_");
    opts[key] = rest[i + 1];
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const URL_BASE = opts.url || "http://127.0.0.1:8101";
const DURATION = Number(opts.duration || 20) * 1000;
const WARMUP = Number(opts.warmup || 3) * 1000;
const CONCURRENCY = Number(opts.concurrency || 64);
const TIMEOUT = Number(opts.timeout || 30) * 1000;
const USER_AGENT = "scoreboard-bench/1";

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function makePool(connections) {
  return new Pool(URL_BASE, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
    headersTimeout: TIMEOUT,
    bodyTimeout: TIMEOUT,
    connect: { timeout: 10_000 },
  });
}

// Latencies in ms, kept in a growable typed array (cheap, no per-sample objects).
class Samples {
  constructor() { this.buf = new Float64Array(1 << 16); this.n = 0; }
  push(v) {
    if (this.n === this.buf.length) { const b = new Float64Array(this.buf.length * 2); b.set(this.buf); this.buf = b; }
    this.buf[this.n++] = v;
  }
  summary() {
    const a = this.buf.slice(0, this.n).sort();
    const q = (p) => (a.length ? a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)] : null);
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += a[i];
    return { count: a.length, mean: a.length ? sum / a.length : null, p50: q(50), p90: q(90), p95: q(95),
      p99: q(99), max: a.length ? a[a.length - 1] : null };
  }
}

class Window {
  constructor() {
    this.t0 = now();
    this.start = this.t0 + WARMUP;
    this.end = this.start + DURATION;
    this.cpuStart = null;
    this.cpuEnd = null;
    this.started = false;
    this.ended = false;
    // Tell the driver exactly when the window opens and closes, so it can sample CPU.
    setTimeout(() => { this.cpuStart = process.cpuUsage(); this.started = true; emit({ event: "measure_start" }); },
      Math.max(0, this.start - now()));
    setTimeout(() => { this.cpuEnd = process.cpuUsage(); this.ended = true; emit({ event: "measure_end" }); },
      Math.max(0, this.end - now()));
  }
  inside(t) { return t >= this.start && t <= this.end; }
  over() { return now() >= this.end; }
  clientCpu() {
    if (!this.cpuStart || !this.cpuEnd) return null;
    const us = (this.cpuEnd.user - this.cpuStart.user) + (this.cpuEnd.system - this.cpuStart.system);
    return { cpu_seconds: us / 1e6, cpu_percent_of_one_core: (us / 1e6) / (DURATION / 1000) * 100 };
  }
}

function countError(errors, key) { errors[key] = (errors[key] || 0) + 1; }

async function call(pool, method, path, { token, json } = {}) {
  const headers = { "user-agent": USER_AGENT };
  if (token) headers.authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) { headers["content-type"] = "application/json"; body = JSON.stringify(json); }
  const res = await pool.request({ method, path, headers, body });
  const text = await res.body.text();
  let data = null;
  if (text && (res.headers["content-type"] || "").includes("json")) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  return { status: res.statusCode, data, text };
}

function errorKey(where, r) {
  const code = r.data && r.data.error ? r.data.error.code : "";
  return `${where}:${r.status}${code ? ":" + code : ""}`;
}

// -- register -------------------------------------------------------------------------------

async function register() {
  const n = Number(opts.players || 64);
  const conc = Math.min(Number(opts.concurrency || 16), n);
  const prefix = opts.prefix || `b${Date.now().toString(36)}`;
  const pool = makePool(conc);
  const players = new Array(n);
  const errors = {};
  let next = 0;
  const t0 = now();
  const lat = new Samples();
  async function worker() {
    while (next < n) {
      const i = next++;
      const username = `${prefix}_${i}`;
      const s = now();
      const r = await call(pool, "POST", "/api/v1/auth/register",
        { json: { username, email: `${username}@bench.example`, password: "bench-password-123" } });
      lat.push(now() - s);
      if (r.status !== 201 || !r.data || !r.data.access_token) {
        countError(errors, errorKey("register", r));
        throw new Error(`register ${username}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
      }
      players[i] = { user_id: r.data.user.id, username, access_token: r.data.access_token };
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  const elapsed = (now() - t0) / 1000;
  writeFileSync(opts.players_file, JSON.stringify(players));
  await pool.close();
  emit({ event: "result", mode: "register", players: n, seconds: elapsed, per_second: n / elapsed,
    latency_ms: lat.summary(), errors });
}

// -- write: token once, then submit → next_action_token → submit … --------------------------

async function write() {
  const players = JSON.parse(readFileSync(opts.players_file, "utf8"));
  const conc = Math.min(CONCURRENCY, players.length);
  const pool = makePool(conc);
  const win = new Window();
  const submitLat = new Samples();
  const tokenLat = new Samples();
  const errors = {};
  const state = players.slice(0, conc).map((p) => ({ ...p, accepted: 0, points: 0, last_new_score: null }));
  let acceptedInWindow = 0, submitsInWindow = 0, tokensInWindow = 0, requestsInWindow = 0;
  let acceptedTotal = 0, pointsTotal = 0, unknownOutcome = 0, nullNextToken = 0;
  // --board SLUG: the action token names that board (SPEC §14); without it, main
  const tokenRequest = opts.board ? { action_type: "complete_task", board: opts.board } : { action_type: "complete_task" };

  async function loop(p) {
    let actionToken = null;
    while (!win.over()) {
      if (!actionToken) {
        const s = now();
        let r;
        try {
          r = await call(pool, "POST", "/api/v1/actions/token", { token: p.access_token, json: tokenRequest });
        } catch (e) { countError(errors, `token:transport:${e.code || e.name}`); await sleep(50); continue; }
        const e = now();
        if (win.inside(e)) { tokenLat.push(e - s); tokensInWindow++; requestsInWindow++; }
        if (r.status === 201 && r.data && r.data.action_token) { actionToken = r.data.action_token; continue; }
        countError(errors, errorKey("token", r));
        await sleep(r.status === 429 ? 200 : 20);
        continue;
      }
      const s = now();
      let r;
      try {
        r = await call(pool, "POST", "/api/v1/scores", { token: p.access_token, json: { action_token: actionToken } });
      } catch (e) {
        // The server may or may not have committed it: the consistency check will tell.
        countError(errors, `submit:transport:${e.code || e.name}`); unknownOutcome++; actionToken = null; await sleep(50); continue;
      }
      const e = now();
      const inside = win.inside(e);
      if (inside) { submitsInWindow++; requestsInWindow++; }
      if (r.status === 200 && r.data && r.data.success) {
        const d = r.data.data;
        acceptedTotal++; pointsTotal += d.points; p.accepted++; p.points += d.points; p.last_new_score = d.new_score;
        if (inside) { acceptedInWindow++; submitLat.push(e - s); }
        actionToken = d.next_action_token;
        if (!actionToken) nullNextToken++;
      } else {
        countError(errors, errorKey("submit", r));
        actionToken = null;
        await sleep(r.status === 429 ? 200 : 20);
      }
    }
  }
  await Promise.all(state.map(loop));
  await pool.close();
  const secs = DURATION / 1000;
  emit({
    event: "result", mode: "write", board: opts.board || "main", concurrency: conc, duration_s: secs, warmup_s: WARMUP / 1000,
    accepted_in_window: acceptedInWindow, accepted_per_s: acceptedInWindow / secs,
    submits_per_s: submitsInWindow / secs, token_requests_per_s: tokensInWindow / secs,
    requests_per_s: requestsInWindow / secs,
    submit_latency_ms: submitLat.summary(), token_latency_ms: tokenLat.summary(),
    accepted_total: acceptedTotal, points_total: pointsTotal, unknown_outcome: unknownOutcome,
    null_next_token: nullNextToken, errors, client: win.clientCpu(),
    players: state.map(({ user_id, accepted, points, last_new_score }) => ({ user_id, accepted, points, last_new_score })),
  });
}

// -- read: GET a path as fast as the server answers --------------------------------------------

async function read() {
  const path = opts.path || "/api/v1/leaderboard";
  const expect = opts.expect ? new RegExp(opts.expect) : null;
  const pool = makePool(CONCURRENCY);
  const win = new Window();
  const lat = new Samples();
  const errors = {};
  let okInWindow = 0, badBody = 0, bytes = 0;
  const headers = { "user-agent": USER_AGENT };
  async function loop() {
    while (!win.over()) {
      const s = now();
      let status, text;
      try {
        const res = await pool.request({ method: "GET", path, headers });
        status = res.statusCode;
        text = await res.body.text();
      } catch (e) { countError(errors, `read:transport:${e.code || e.name}`); await sleep(50); continue; }
      const e = now();
      if (status !== 200) { countError(errors, `read:${status}`); await sleep(20); continue; }
      if (expect && !expect.test(text)) { badBody++; continue; }
      if (win.inside(e)) { okInWindow++; bytes += text.length; lat.push(e - s); }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  await pool.close();
  const secs = DURATION / 1000;
  emit({ event: "result", mode: "read", path, concurrency: CONCURRENCY, duration_s: secs, warmup_s: WARMUP / 1000,
    ok_in_window: okInWindow, per_s: okInWindow / secs, mean_body_bytes: okInWindow ? bytes / okInWindow : 0,
    latency_ms: lat.summary(), bad_body: badBody, errors, client: win.clientCpu() });
}

const modes = { register, write, read };
if (!modes[opts.mode]) { console.error(`unknown mode ${opts.mode}; use register | write | read`); process.exit(2); }
modes[opts.mode]().then(() => process.exit(0), (err) => { console.error(err && err.stack || String(err)); process.exit(1); });
