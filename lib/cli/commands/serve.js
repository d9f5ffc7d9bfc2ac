"use strict";

/**
 * `arkor serve`: the local backend as a standalone server. Point any client
 * at it with ARKOR_CLOUD_API_URL; it speaks the same API as the hosted one.
 */
async function runServe({ host = "127.0.0.1", port = "8787", home } = {}) {
  const native = require("../../native");
  const p = Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    const err = new Error(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(port)}`);
    err.code = "ARKOR_USAGE";
    throw err;
  }
  const url = await native.startServer(host, p, home ?? null);
  process.stdout.write(`arkor server listening on ${url}\n`);
  process.stdout.write(`Point the SDK at it with: ARKOR_CLOUD_API_URL=${url}\n`);
  // The server runs on Rust threads that do not hold Node's event loop, so
  // hold it here until a signal ends the process.
  const keepAlive = setInterval(() => {}, 1 << 30);
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => {
      clearInterval(keepAlive);
      process.stdout.write("arkor server stopped\n");
      process.exit(0);
    });
  }
}

module.exports = { runServe };
