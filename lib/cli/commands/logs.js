"use strict";

// `arkor logs <jobId> [--follow]`: a job's events as lines; with --follow,
// keep printing new ones until the job ends (Ctrl-C stops following; the
// job itself goes on).

const { connect, getJob } = require("../backend.js");
const { describeEvent } = require("../format.js");
const { sseFrames } = require("../sse.js");

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

async function runLogs({ jobId, follow = false, cwd = process.cwd() } = {}) {
  const backend = await connect({ cwd });
  const { job, events } = await getJob(backend, jobId);
  const print = (ev) => {
    const line = describeEvent(ev, job);
    if (line) process.stdout.write(`${line}\n`);
  };
  process.stdout.write(`Job ${job.id} (${job.name ?? "unnamed"}): ${job.status}\n`);
  let lastId;
  for (const ev of events || []) {
    print(ev);
    if (ev.id !== undefined) lastId = String(ev.id);
  }
  if (!follow || TERMINAL.has(job.status)) return;

  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once("SIGINT", onSigint);
  try {
    // The stream ends after the job's terminal event (`event: end`); a
    // dropped connection is resumed from the last event seen.
    for (;;) {
      let ended = false;
      try {
        const res = await backend.client.openEventStream(jobId, backend.scope, { lastEventId: lastId, signal: controller.signal });
        for await (const frame of sseFrames(res)) {
          if (frame.event === "end") {
            ended = true;
            break;
          }
          if (frame.event !== "message") continue;
          if (frame.id !== undefined) lastId = frame.id;
          let ev;
          try {
            ev = JSON.parse(frame.data);
          } catch {
            continue;
          }
          print(ev);
        }
      } catch (err) {
        if (controller.signal.aborted) break;
        throw err;
      }
      if (ended || controller.signal.aborted) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    process.off("SIGINT", onSigint);
  }
  if (controller.signal.aborted) process.stderr.write(`Stopped following job ${jobId} (the job goes on; \`arkor cancel ${jobId}\` stops it).\n`);
}

module.exports = { runLogs };
