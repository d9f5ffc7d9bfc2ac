// Job creation survives a lost answer: the SDK retries POST /v1/jobs with
// the same Idempotency-Key, and the real local backend (`arkor serve`)
// answers the repeat with the job it already created. A TCP proxy between
// them forwards the first POST /v1/jobs and then drops the connection
// instead of the response.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import net from "node:net";

import { freePort, isolated, makeTempDir, sqliteJobs, startServe, writeDataset, TINY_MODEL } from "./helpers/local-backend.mjs";

const require = createRequire(import.meta.url);
const { createTrainer } = require("../index.js");

/** A proxy to `port` that loses the answer to the first POST /v1/jobs. */
async function lossyProxy(port) {
  const seen = [];
  let dropped = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    let dropNext = false;
    client.on("data", (chunk) => {
      const text = chunk.toString("latin1");
      if (/^POST \/v1\/jobs[?\s]/.test(text)) {
        seen.push((/\r\nidempotency-key: *([^\r]*)/i.exec(text) || [])[1]);
        if (!dropped) {
          dropped = true;
          dropNext = true;
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (dropNext) {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test("a POST /v1/jobs answer lost after the local backend created the job gives one job", async (t) => {
  const { env, arkorHome } = isolated();
  const port = await freePort();
  const serve = await startServe(port, env);
  t.after(() => serve.kill());
  const proxy = await lossyProxy(port);
  t.after(() => proxy.close());

  const signup = await fetch(`http://127.0.0.1:${port}/v1/auth/anonymous`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind: "cli" }),
  }).then((r) => r.json());
  const credentials = {
    mode: "anon",
    token: signup.token,
    anonymousId: signup.anonymousId,
    arkorCloudApiUrl: proxy.url,
    orgSlug: signup.personalOrg.slug,
  };
  const cwd = makeTempDir("arkor-idem-");
  const dataset = { type: "blob", url: writeDataset(cwd) };
  const tr = createTrainer({ name: "idem", model: TINY_MODEL, dataset, maxSteps: 2 }, { baseUrl: proxy.url, credentials, cwd });
  const { jobId } = await tr.start();
  await tr.cancel();

  assert.equal(proxy.seen.length, 2, "the lost answer was retried once");
  assert.ok(proxy.seen[0] && proxy.seen[0].length >= 16, `an Idempotency-Key was sent: ${proxy.seen[0]}`);
  assert.equal(proxy.seen[1], proxy.seen[0], "the retry reuses the key");
  const jobs = sqliteJobs(arkorHome);
  assert.deepEqual(
    jobs.map((j) => j.id),
    [jobId],
    "exactly one job in the store, the one start() resolved",
  );
});
