// coin-hive-stratum 1.4.10 (npm) as its own CLI runs it, but with its built-in donation
// pool removed: the stock CLI opens a second Stratum connection to a public pool
// (la01.supportxmr.com) for 1% of the jobs, and nothing here may leave the machine.
// Usage: node chs.js LISTEN_PORT POOL_HOST POOL_PORT [tls]
"use strict";
const createProxy = require("coin-hive-stratum");
const [port, host, poolPort, tls] = process.argv.slice(2);
const proxy = createProxy({
  host: host,
  port: +poolPort,
  pass: "x",
  tls: tls === "tls",
  log: true,
  donations: [],
});
proxy.listen(+port);
process.on("SIGTERM", () => process.exit(0));
