// A stand-in for the CoinHive browser miner (coinhive.min.js / its WebAssembly worker) as
// it talks to a coin-hive-stratum proxy: WebSocket messages {type: "auth"} ->
// {type: "authed"}, {type: "job", params: {job_id, blob, target}} -> {type: "submit",
// params: {job_id, nonce, result}} -> {type: "hash_accepted"}. It hashes nothing: shares
// are sent at the times a slow in-page miner would find them (Poisson, mean MEAN_S
// seconds), with random nonce/result, for the current job. The stub pool accepts them.
// Usage: node browserminer.js ws://HOST:PORT/ SITE_KEY [MEAN_S]
"use strict";
const WebSocket = require("ws");
const crypto = require("crypto");
const [url, siteKey, meanArg] = process.argv.slice(2);
const mean = +(meanArg || 40);
let job = null;
let timer = null;

const ws = new WebSocket(url, {
  headers: {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:57.0) Gecko/20100101 Firefox/57.0",
    Origin: "http://blog.example.test",
  },
});

function scheduleShare() {
  const wait = -Math.log(1 - Math.random()) * mean * 1000;
  timer = setTimeout(() => {
    if (job && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({
        type: "submit",
        params: {
          job_id: job.job_id,
          nonce: crypto.randomBytes(4).toString("hex"),
          result: crypto.randomBytes(32).toString("hex"),
        },
      }));
      console.log(new Date().toISOString(), "submit", job.job_id);
    }
    scheduleShare();
  }, wait);
}

ws.on("open", () => {
  ws.send(JSON.stringify({
    type: "auth",
    params: { site_key: siteKey, type: "anonymous", user: null, goal: 0 },
  }));
});
ws.on("message", (data) => {
  const msg = JSON.parse(data);
  console.log(new Date().toISOString(), "recv", msg.type);
  if (msg.type === "job") {
    job = msg.params;
    if (!timer) scheduleShare();
  }
});
ws.on("close", () => process.exit(0));
ws.on("error", (e) => { console.error(e.message); process.exit(1); });
process.on("SIGTERM", () => { ws.close(1000); setTimeout(() => process.exit(0), 500); });
