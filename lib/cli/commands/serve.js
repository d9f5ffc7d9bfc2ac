"use strict";

/** The port `arkor serve` listens on unless `--port` says otherwise. */
const DEFAULT_PORT = 8787;

/**
 * `arkor serve`: the local backend as a standalone server. Point any client
 * at it with ARKOR_CLOUD_API_URL; it speaks the same API as the hosted one.
 * The trust rules (Host guard, public mode) live in the server; this only
 * passes the flags through.
 */
async function runServe(opts = {}) {
  const native = require("../../native");
  const { host = "127.0.0.1", port = String(DEFAULT_PORT), home } = opts;
  const p = Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535) {
    const err = new Error(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(port)}`);
    err.code = "ARKOR_USAGE";
    throw err;
  }
  // What a token may be (not blank, long enough) is the server's rule.
  const { translated } = require("../../errors.js");
  const info = await translated(() => native.startServer({
    host,
    port: p,
    home,
    public: Boolean(opts.public),
    allowHosts: opts.allowHost ?? [],
    allowAnonymous: Boolean(opts.allowAnonymous),
    token: opts.token ?? native.settings().serveToken ?? undefined,
    allowPaths: opts.allowPath ?? [],
    allowPrivateUrls: Boolean(opts.allowPrivateUrls),
  })).catch((err) => {
    // A setting the server refuses (a token too short, say) is the user's to mend:
    // its message says how, with no stack.
    if (err instanceof TypeError) err.code = "ARKOR_USAGE";
    throw err;
  });
  const out = (line) => process.stdout.write(`${line}\n`);
  out(`arkor server listening on ${info.url}${info.public ? " (public mode)" : ""}`);
  out(`Point the SDK at it with: ARKOR_CLOUD_API_URL=${info.url}`);
  out(`Deployments (arkor endpoints) answer at ${info.url}/deployments/<slug>/v1${info.public ? "" : ` and http://<slug>.localhost:${new URL(info.url).port}/v1`}`);
  if (info.public) {
    if (info.newToken) {
      out(`Generated this server's token (shown once; kept in ${info.tokenFile}):`);
      out(`  ${info.newToken}`);
    } else if (info.tokenFile) {
      out(`Its token is in ${info.tokenFile}`);
    }
    out(`Clients send it as \`Authorization: Bearer <token>\`, org "${native.LOCAL_ORG}".`);
  }
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

module.exports = { runServe, DEFAULT_PORT };
