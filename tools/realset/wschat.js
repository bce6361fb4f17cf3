// Benign: a chat/push WebSocket over TLS with the npm "ws" package.
// Server: an https server with a ws.Server on it; pushes "presence" and "news" messages to
// every client at jittered intervals (5-40 s) and relays chat messages to all.
// Client: joins, sends a chat line every 5-30 s, pings every 30 s (ws ping frames).
// Usage: node wschat.js server PORT CERT KEY | node wschat.js client wss://HOST:PORT/chat CA NAME
"use strict";
const fs = require("fs");
const https = require("https");
const WebSocket = require("ws");
const mode = process.argv[2];
const jitter = (lo, hi) => (lo + Math.random() * (hi - lo)) * 1000;
const words = ["lunch?", "deploy done", "looks good to me", "meeting moved to 3pm",
  "can you review #1432", "coffee", "the build is green again", "ok", "thanks!",
  "who broke staging", "brb", "see the doc I shared"];
const pick = (a) => a[Math.floor(Math.random() * a.length)];

if (mode === "server") {
  const [port, cert, key] = process.argv.slice(3);
  const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
  const wss = new WebSocket.Server({ server, path: "/chat" });
  const broadcast = (msg) => {
    const text = JSON.stringify(msg);
    wss.clients.forEach((c) => c.readyState === WebSocket.OPEN && c.send(text));
  };
  wss.on("connection", (ws) => {
    ws.send(JSON.stringify({ type: "welcome", users: wss.clients.size, ts: Date.now() }));
    ws.on("message", (data) => {
      const msg = JSON.parse(data);
      broadcast({ type: "message", from: msg.name, text: msg.text, ts: Date.now() });
    });
  });
  const push = () => {
    broadcast(Math.random() < 0.5
      ? { type: "presence", online: ["ana", "bo", "chen", "dev"].filter(() => Math.random() < 0.7) }
      : { type: "news", headline: pick(words), id: Math.floor(Math.random() * 1e6) });
    setTimeout(push, jitter(5, 40));
  };
  setTimeout(push, jitter(5, 40));
  server.listen(+port);
  process.on("SIGTERM", () => process.exit(0));
} else {
  const [url, ca, name] = process.argv.slice(3);
  const ws = new WebSocket(url, { ca: fs.readFileSync(ca) });
  ws.on("open", () => {
    const say = () => {
      ws.send(JSON.stringify({ name, text: pick(words) }));
      setTimeout(say, jitter(5, 30));
    };
    setTimeout(say, jitter(2, 10));
    setInterval(() => ws.ping(), 30000);
  });
  ws.on("message", (data) => console.log(String(data)));
  ws.on("close", () => process.exit(0));
  ws.on("error", (e) => { console.error(e.message); process.exit(1); });
  process.on("SIGTERM", () => { ws.close(1000); setTimeout(() => process.exit(0), 500); });
}
