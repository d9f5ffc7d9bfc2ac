// Helpers for the Studio tests: a scaffolded project with `arkor dev`
// running in it on the real local backend, and raw HTTP requests to it
// (node:http, so Host and Origin can be set as a browser or an attacker would).
import http from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { cliEnv, scaffold, startArkor } from "./cli.mjs";
import { freePort } from "./local-backend.mjs";

/**
 * A tiny-model project (`steps` training steps) with `arkor dev --port`
 * running in it: `{ dir, env, home, port, base, token, dev, stop() }`.
 * `env` adds to (or, with `undefined` values, removes from) its environment.
 */
export async function startStudio({ steps = 8, trainerEdit, env: extra = {} } = {}) {
  const { env, home, arkorHome } = cliEnv(extra);
  const dir = scaffold(env, { template: "triage", steps, trainerEdit });
  const port = await freePort();
  const dev = startArkor(["dev", "--port", String(port)], { cwd: dir, env, timeoutMs: 900_000 });
  await dev.waitFor("stdout", /Arkor Studio running on http:\/\/localhost:(\d+)/, 90_000);
  const token = readFileSync(join(home, ".arkor", "studio-token"), "utf8");
  return {
    dir,
    env,
    home,
    arkorHome,
    port,
    base: `http://127.0.0.1:${port}`,
    token,
    dev,
    async stop() {
      dev.child.kill("SIGTERM");
      return dev.done;
    },
  };
}

/**
 * One request: `{ status, headers, text, json() }`. `headers` replace the
 * defaults (Host: 127.0.0.1:port); a `body` object is sent as JSON.
 */
export function request(port, method, path, { headers = {}, body, signal } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request(
      { host: "127.0.0.1", port, method, path, headers: { host: `127.0.0.1:${port}`, ...(payload ? { "content-type": "application/json" } : {}), ...headers }, signal },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * Starts a request and hands back the live response: `{ res, req, text(),
 * waitFor(re) }`, for streams read while they are still coming.
 */
export function openStream(port, method, path, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: "127.0.0.1", port, method, path, headers: { host: `127.0.0.1:${port}`, ...(payload ? { "content-type": "application/json" } : {}), ...headers } }, (res) => {
      let text = "";
      const waiters = [];
      res.setEncoding("utf8");
      res.on("data", (d) => {
        text += d;
        for (const w of [...waiters]) {
          const m = text.match(w.re);
          if (m) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      });
      const ended = new Promise((r) => res.on("close", () => r(text)));
      resolve({
        res,
        req,
        ended,
        text: () => text,
        waitFor: (re, ms = 60_000) =>
          new Promise((ok, fail) => {
            const m = text.match(re);
            if (m) return ok(m);
            const timer = setTimeout(() => fail(new Error(`no ${re} within ${ms} ms in:\n${text}`)), ms);
            waiters.push({ re, resolve: (x) => (clearTimeout(timer), ok(x)) });
          }),
      });
    });
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** Adds `src/arkor/<name>.ts`, an entry whose trainer runs `steps` steps (its source through `edit`). */
export function addEntry(dir, name, steps, edit = (src) => src) {
  const trainer = edit(readFileSync(join(dir, "src", "arkor", "trainer.ts"), "utf8").replace(/maxSteps: \d+/, `maxSteps: ${steps}`));
  writeFileSync(join(dir, "src", "arkor", `${name}-trainer.ts`), trainer);
  const index = readFileSync(join(dir, "src", "arkor", "index.ts"), "utf8").replace('"./trainer"', `"./${name}-trainer"`);
  writeFileSync(join(dir, "src", "arkor", `${name}.ts`), index);
  return `src/arkor/${name}.ts`;
}
