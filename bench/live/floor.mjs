// The machine's floor for the live benchmark: the cheapest broadcast server at hand (Node + ws,
// one process, no framework, no database, no Redis) sending the same bytes to every connection.
//
//   node floor.mjs PORT MESSAGE.json
//   GET /healthz                                → ok
//   GET /run?rate=10&duration=15&first=1&out=F  → broadcasts `rate` times a second for `duration`
//       seconds (the JSON message with its seq counting up from `first`), writes
//       [[seq, t_start_ms, t_start_ms, t_start_ms], ...] (CLOCK_MONOTONIC) to F, answers when done.
// Viewers connect to ws://127.0.0.1:PORT/ws/scoreboard exactly as they do to the app.
import fs from "node:fs";
import http from "node:http";
import { WebSocketServer } from "ws";

const [port, messagePath] = process.argv.slice(2);
const template = JSON.parse(fs.readFileSync(messagePath, "utf8"));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function run(rate, duration, first, out) {
  const commits = [];
  const start = nowMs();
  const n = Math.floor(rate * duration);
  for (let i = 0; i < n; i++) {
    await sleep(start + (i * 1000) / rate - nowMs());
    const seq = first + i;
    const t = nowMs();
    const data = Buffer.from(JSON.stringify({ ...template, seq }));
    for (const client of wss.clients) client.send(data, { binary: false });
    commits.push([seq, t, t, t]);
  }
  fs.writeFileSync(out, JSON.stringify(commits));
  return commits.length;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/healthz") {
    res.end("ok");
  } else if (url.pathname === "/run") {
    const q = url.searchParams;
    const count = await run(+q.get("rate"), +q.get("duration"), +q.get("first"), q.get("out"));
    res.end(JSON.stringify({ count }));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => ws.send(JSON.stringify({ ...template, seq: 0 })));
server.listen(+port, "127.0.0.1");
