"use strict";

// `arkor dev [-p|--port N] [--open]`: Studio, the local web UI, on
// http://localhost:4000 (lib/studio/). It serves the SPA and its loopback
// API; trainings run in `arkor start` children it spawns on request.

const { spawn } = require("node:child_process");
const path = require("node:path");

const { cloudApiUrl, connect, usage } = require("../backend.js");

const DEFAULT_PORT = 4000;
/** Tries without --port, the default included. */
const PORT_ATTEMPTS = 10;

/** `--port` as a TCP port, or a usage error naming the flag. */
function parsePort(raw) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw usage(`--port must be a whole number from 1 to 65535, got ${JSON.stringify(raw)}`);
  return n;
}

/** Listens on 127.0.0.1:port; rejects with the listen error. */
function listenOn(server, port) {
  return new Promise((resolve, reject) => {
    const onError = (err) => {
      server.off("listening", onListening);
      reject(err);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve(server.address().port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    // 127.0.0.1, not localhost: never IPv6-only where ::1 resolves first.
    server.listen(port, "127.0.0.1");
  });
}

/**
 * Binds `server`: the explicit port or nothing; else the default and the
 * next ones, warning before each retry (upstream's messages).
 */
async function bind(server, explicitPort, warn) {
  if (explicitPort !== undefined) {
    try {
      return await listenOn(server, explicitPort);
    } catch (err) {
      if (err.code === "EADDRINUSE") {
        throw usage(`Port ${explicitPort} is already in use. Another \`arkor dev\` may be running; pass --port to choose a different one.`);
      }
      throw err;
    }
  }
  const last = DEFAULT_PORT + PORT_ATTEMPTS - 1;
  for (let port = DEFAULT_PORT; port <= last; port++) {
    try {
      return await listenOn(server, port);
    } catch (err) {
      if (err.code !== "EADDRINUSE") throw err;
      if (port < last) warn(`Port ${port} is in use, trying ${port + 1} instead. Pass --port to pin a specific one.`);
    }
  }
  throw usage(`Port ${DEFAULT_PORT} is already in use, and no free port was found in ${DEFAULT_PORT}-${last}. Pass --port to choose one explicitly.`);
}

/** Opens `url` in the desktop's browser; failing to is not an error. */
function openBrowser(url) {
  const [cmd, args] =
    process.platform === "darwin" ? ["open", [url]] : process.platform === "win32" ? ["cmd", ["/c", "start", "", url]] : ["xdg-open", [url]];
  try {
    const child = spawn(cmd, args, { stdio: "ignore", detached: true });
    child.on("error", () => process.stderr.write(`Could not open a browser; visit ${url}\n`));
    child.unref();
  } catch {
    process.stderr.write(`Could not open a browser; visit ${url}\n`);
  }
}

/**
 * Upstream's launch sequence for a remote backend with no credentials on
 * file: ask how it signs CLIs in, then get an anonymous identity, saying
 * so. Resolves null when there was nothing to do, true once signed in, and
 * false when the backend could not be reached after its config answered
 * (a warning: Studio retries on its first /api/credentials call).
 */
async function signIn(cwd) {
  const sdk = require("../../../index.js");
  const native = require("../../native");
  const baseUrl = cloudApiUrl();
  if (!baseUrl || (await sdk.readCredentials())) return null;
  const cfg = await sdk.fetchCliConfig(baseUrl);
  const oauth = Boolean(cfg.auth0Domain && cfg.clientId && cfg.audience);
  process.stdout.write(
    oauth
      ? "No credentials on file. Bootstrapping an anonymous session (this build of arkor does not sign in with OAuth).\n"
      : "No credentials on file. Requesting an anonymous token.\n",
  );
  let backend;
  try {
    backend = await connect({ cwd });
  } catch (err) {
    // The sign-up refused (what the native core raises for it, as upstream
    // names it): say what this build can do instead, since it has no OAuth.
    if (err && err.name === "AnonymousTokenRejectedError" && err.status >= 400 && err.status < 500) {
      throw usage(
        `Failed to bootstrap an anonymous session on ${baseUrl}: ${err.message}. This build of arkor signs in anonymously only: ` +
          "unset ARKOR_CLOUD_API_URL to use the local backend, or use a backend that allows anonymous sign-up (`arkor serve --allow-anonymous`).",
      );
    }
    if (err instanceof TypeError && err.message === "fetch failed") {
      process.stderr.write(`Could not reach ${baseUrl} (fetch failed). Studio will keep running and retry on first /api/credentials hit.\n`);
      return false;
    }
    throw err;
  }
  process.stdout.write(
    `Anonymous id: ${backend.credentials.anonymousId}. Arkor Cloud uses this id to recognise this client across sessions. Keep \`${native.credentialsPath()}\` to stay signed in as the same anonymous identity.\n`,
  );
  if (oauth) {
    process.stderr.write("Anonymous sessions aren't guaranteed to persist, and this build of arkor cannot sign in to an Arkor Cloud account (OAuth) yet.\n");
  }
  return true;
}

async function runDev({ port, open = false, cwd = process.cwd() } = {}) {
  const explicitPort = port === undefined ? undefined : parsePort(port);
  const { ensureStudioApp } = require("../../studio/build-app.js");
  const { createStudioServer } = require("../../studio/server.js");
  const { newStudioToken, studioTokenPath, writeStudioToken, removeStudioToken } = require("../../studio/token.js");

  await ensureStudioApp();
  // The backend before the server: a remote one may need an anonymous
  // sign-in, and the local one starts here rather than on the first page.
  const reached = (await signIn(cwd)) !== false;
  const b = reached ? await connect({ cwd }) : null;

  const token = newStudioToken();
  const server = createStudioServer({ token, cwd });
  const bound = await bind(server, explicitPort, (m) => process.stderr.write(`${m}\n`));
  const url = `http://localhost:${bound}`;

  // Only after the bind: a launch that fails on a busy port never touches
  // the token a running instance depends on.
  try {
    writeStudioToken(token);
  } catch (err) {
    process.stderr.write(
      `Could not write ${studioTokenPath()} (${err.message}). The Studio at ${url} is unaffected, but the Vite SPA dev workflow will see 403s on /api/*.\n`,
    );
  }
  const cleanup = () => {
    removeStudioToken(token);
    // As Ctrl-C would: each `arkor start` cancels its job, then exits.
    for (const child of server.children) child.kill("SIGINT");
  };
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(sig === "SIGINT" ? 130 : 143));

  const where = !b ? require("../../native").settings().cloudApiUrl : b.local ? `the local backend (org ${b.scope.orgSlug}, project ${b.scope.projectSlug})` : b.baseUrl;
  process.stdout.write(`Arkor Studio running on ${url}\n`);
  process.stdout.write(`Project ${path.resolve(cwd)} on ${where}. Ctrl-C stops Studio.\n`);
  if (open) openBrowser(url);
}

module.exports = { runDev, parsePort, bind, DEFAULT_PORT, PORT_ATTEMPTS };
