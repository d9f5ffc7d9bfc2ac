"use strict";

// `arkor chat <jobId> [--step N | --final | --base] [--prompt TEXT]`: talk
// to a job's saved checkpoint, its final adapter, or its base model from
// the terminal. Tokens are printed as they arrive. With --prompt, one
// answer; otherwise a conversation, one line per turn, until EOF or /exit.

const readline = require("node:readline/promises");

const { connect, getJob, usage } = require("../backend.js");

/** The server-sent events of a streamed body, decoded by the SDK's parser. */
async function* sseFrames(response) {
  const native = require("../../native");
  const decoder = new native.SseDecoder();
  for await (const chunk of response.body) yield* decoder.feed(chunk);
}

/** Which weights to talk to, as the chat body's `adapter` / `baseModel`. */
function pickTarget(job, events, { step, final, base }) {
  const chosen = [step !== undefined, Boolean(final), Boolean(base)].filter(Boolean).length;
  if (chosen > 1) throw usage("pick one of --step, --final or --base");
  const checkpoints = (events || []).filter((e) => e.type === "checkpoint.saved").map((e) => e.step);
  if (base) {
    const model = job.config && job.config.model;
    if (!model) throw usage(`job ${job.id} names no base model`);
    return { body: { baseModel: model }, label: `base model ${model}` };
  }
  if (step !== undefined) {
    const n = Number(step);
    if (!Number.isInteger(n) || n < 0) throw usage(`--step must be a whole number, got ${JSON.stringify(step)}`);
    // A backend that lists no events for a job cannot be checked here: it
    // answers the chat request itself if the step does not exist.
    if (Array.isArray(events) && !checkpoints.includes(n)) {
      throw usage(
        `job ${job.id} has no checkpoint at step ${n}; saved: ${checkpoints.length ? checkpoints.join(", ") : "none"}`,
      );
    }
    return { body: { adapter: { kind: "checkpoint", jobId: job.id, step: n } }, label: `checkpoint at step ${n}` };
  }
  if (final || job.status === "completed") {
    if (job.status !== "completed") throw usage(`job ${job.id} is ${job.status}; the final adapter exists once it completed`);
    return { body: { adapter: { kind: "final", jobId: job.id } }, label: "final adapter" };
  }
  // Not finished: the newest checkpoint so far.
  if (checkpoints.length === 0) throw usage(`job ${job.id} is ${job.status} and has saved no checkpoint yet; try --base`);
  const last = Math.max(...checkpoints);
  return { body: { adapter: { kind: "checkpoint", jobId: job.id, step: last } }, label: `checkpoint at step ${last}` };
}

/** Streams one answer to stdout; resolves its full text. */
async function answer(backend, target, messages, opts, signal) {
  const body = { messages, ...target.body, stream: true };
  if (opts.maxTokens !== undefined) body.maxTokens = opts.maxTokens;
  if (opts.temperature !== undefined) body.temperature = opts.temperature;
  const res = await backend.client.chat({ scope: backend.scope, body, signal });
  let text = "";
  for await (const frame of sseFrames(res)) {
    if (frame.data === "[DONE]") break;
    let chunk;
    try {
      chunk = JSON.parse(frame.data);
    } catch {
      continue;
    }
    const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
    const piece = delta && typeof delta.content === "string" ? delta.content : "";
    if (piece) {
      text += piece;
      process.stdout.write(piece);
    }
  }
  process.stdout.write("\n");
  return text;
}

/**
 * A numeric option as a number, or a usage error naming the flag when the text
 * is no number. Its bounds are the backend's to check (its 400 names the field
 * and the bound), so they are written in one place.
 */
function numberOption(name, v, { integer = false } = {}) {
  if (v === undefined) return undefined;
  const n = Number(v);
  // Number("") and Number("  ") are 0: an empty value is no number at all.
  if (String(v).trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw usage(`${name} must be a ${integer ? "whole " : ""}number, got ${JSON.stringify(v)}`);
  }
  return n;
}

async function runChat({ jobId, step, final, base, prompt, system, maxTokens, temperature, cwd = process.cwd() } = {}) {
  const opts = {
    maxTokens: numberOption("--max-tokens", maxTokens, { integer: true }),
    temperature: numberOption("--temperature", temperature),
  };
  const backend = await connect({ cwd });
  const { job, events } = await getJob(backend, jobId);
  const target = pickTarget(job, events, { step, final, base });
  const history = system ? [{ role: "system", content: system }] : [];

  if (prompt !== undefined) {
    await answer(backend, target, [...history, { role: "user", content: prompt }], opts);
    return;
  }

  const interactive = Boolean(process.stdin.isTTY);
  if (interactive) process.stderr.write(`Chatting with job ${job.id} (${target.label}). /exit or Ctrl-D to quit.\n`);
  const rl = readline.createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  let current = null;
  rl.on("SIGINT", () => {
    // Ctrl-C stops the answer being written; a second one at the prompt quits.
    if (current) current.abort();
    else rl.close();
  });
  try {
    for (;;) {
      let line;
      try {
        line = await rl.question(interactive ? "you> " : "");
      } catch {
        break; // closed (EOF or Ctrl-C at the prompt)
      }
      const text = line.trim();
      if (!text) continue;
      if (text === "/exit" || text === "/quit") break;
      history.push({ role: "user", content: text });
      current = new AbortController();
      try {
        const reply = await answer(backend, target, history, opts, current.signal);
        history.push({ role: "assistant", content: reply });
      } catch (err) {
        history.pop();
        if (!current.signal.aborted) throw err;
        process.stdout.write("\n");
      } finally {
        current = null;
      }
    }
  } finally {
    rl.close();
  }
}

module.exports = { runChat, pickTarget };
