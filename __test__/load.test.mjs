// The local backend under modest load: while a job trains the tiny model on
// an `arkor serve`, several SDK clients follow its event stream and several
// inference requests run at once. Every client must see every event exactly
// once, in order, and no request may fail. Full-size figures: bench/README.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

import { BIN, freePort, isolated, makeTempDir, spawnNode, writeDataset, TINY_MODEL } from "./helpers/local-backend.mjs";

const { CloudApiClient } = createRequire(import.meta.url)("../index.js");

const FOLLOWERS = Number(process.env.ARKOR_LOAD_FOLLOWERS ?? 6);
const INFERENCES = Number(process.env.ARKOR_LOAD_INFERENCES ?? 4);
const TOKEN = "load-test-token-0123456789";

/** SSE text → the `id`s of its data frames, and whether it ended with `end`. */
function frames(text) {
  const ids = [];
  let ended = false;
  for (const block of text.split("\n\n")) {
    const lines = block.split("\n");
    const id = lines.find((l) => l.startsWith("id: "));
    if (id) ids.push(Number(id.slice(4)));
    if (lines.includes("event: end")) ended = true;
  }
  return { ids, ended };
}

/** The server process's peak resident memory, where /proc tells it. */
function peakRss(pid) {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+ kB)/)?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}

test(`${FOLLOWERS} stream followers and ${INFERENCES} inference requests during training: every event once, in order, no failure`, async (t) => {
  const { env } = isolated();
  const data = makeTempDir("arkor-load-");
  const url = writeDataset(data);
  const port = await freePort();
  const server = spawnNode([BIN, "serve", "--port", String(port), "--public", "--token", TOKEN, "--allow-path", data], { env, timeoutMs: 300_000 });
  try {
    const line = await server.waitForLine((l) => l.includes("listening on"), 60_000);
    const baseUrl = line.match(/(http:\/\/\S+)/)[1];
    const credentials = { mode: "anon", token: TOKEN, anonymousId: "load", arkorCloudApiUrl: baseUrl, orgSlug: "local" };
    const client = new CloudApiClient({ baseUrl, credentials });
    const scope = { orgSlug: "local", projectSlug: "load" };
    await client.createProject({ orgSlug: "local", name: "load", slug: "load" });
    const { job } = await client.createJob({
      ...scope,
      name: "load",
      config: { model: TINY_MODEL, datasetSource: { type: "blob", url }, maxSteps: 40, saveSteps: 10, loggingSteps: 1, batchSize: 2 },
    });

    const follow = async () => {
      const res = await client.openEventStream(job.id, scope);
      assert.equal(res.status, 200);
      return frames(await res.text());
    };
    const infer = async (i) => {
      const res = await client.chat({
        scope,
        body: { messages: [{ role: "user", content: `ticket ${i}` }], baseModel: TINY_MODEL, maxTokens: 8, stream: i % 2 === 0 },
      });
      assert.equal(res.status, 200, `inference ${i}`);
      const text = await res.text();
      assert.ok(text.length > 0, `inference ${i} answered`);
      return text;
    };
    const t0 = performance.now();
    const followers = Array.from({ length: FOLLOWERS }, follow);
    const inferences = Array.from({ length: INFERENCES }, (_, i) => infer(i));
    const [streams, answers] = await Promise.all([Promise.all(followers), Promise.all(inferences)]);

    const { job: done, events } = await client.getJob(job.id, scope);
    assert.equal(done.status, "completed");
    const stored = events.map((e) => e.id);
    assert.ok(stored.length >= 40 + 4 + 2, `events stored: ${stored.length}`);
    for (const [i, s] of streams.entries()) {
      assert.ok(s.ended, `follower ${i} saw the end`);
      assert.deepEqual(s.ids, stored, `follower ${i} saw every event exactly once, in order`);
    }
    assert.equal(answers.length, INFERENCES);
    t.diagnostic(`${stored.length} events to ${FOLLOWERS} followers, ${INFERENCES} inferences, in ${Math.round(performance.now() - t0)} ms; server peak RSS ${peakRss(server.child.pid)}`);
  } finally {
    server.kill("SIGTERM");
    await server.done;
  }
});
