#!/usr/bin/env node
// Trains the demo's model with one recipe variant and scores the final
// adapter on a triage eval file (greedy, 4 tickets at a time), with the
// confusion of its categories: the tool behind the demo's experiment log
// (examples/demo/EXPERIMENTS.md). Not a recipe: it calls the SDK directly.
//
//   ARKOR_HOME=/tmp/sweep-home STEPS=100 BS=5 LR=2e-3 node examples/demo/sweep.mjs
//
// Settings (environment): MODEL (default google/gemma-3-270m), DATA
// (training JSONL, default the demo's), EVAL (default triage-eval.jsonl),
// STEPS, BS, LR, SCHED (lrSchedulerType), WARM (warmupSteps), ALPHA (LoRA
// alpha, default 16), WD (weightDecay), EVAL_STEPS (evalSteps: hold out 5%
// of the rows and report the eval loss, as the demo does), SAVE (saveSteps,
// default STEPS), SCORE_AT (comma-separated checkpoint steps to score,
// default the last),
// MORE (another eval file scored after EVAL, e.g. rows of the training
// generator run with another seed), SCHEMA=1 (also score under the triage
// schema), SHOW_WRONG=1 (print the tickets it gets wrong, each after the
// summary the model wrote), TAG (run name).
// It keeps no state besides the job under $ARKOR_HOME; use a home of your
// own (with `models/` linked from ~/.arkor/local/models) to keep out of
// others' way.
import { createTrainer } from "../../index.mjs";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { CATEGORIES } from "../data/triage-common.mjs";

const env = process.env;
const data = (name) => new URL(`../data/${name}`, import.meta.url).pathname;
const STEPS = Number(env.STEPS ?? 100);
const SCORE_AT = env.SCORE_AT ? env.SCORE_AT.split(",").map(Number) : [STEPS];
const TAG = env.TAG ?? "sweep";
const CONCURRENCY = 4;
const SCHEMA = JSON.parse(readFileSync(new URL("../../crates/arkor-engine/tests/fixtures/triage_schema.json", import.meta.url), "utf8"));

const readRows = (file) => readFileSync(file, "utf8").trim().split("\n").map((line) => {
  const { messages } = JSON.parse(line);
  return { ticket: messages[0].content, want: JSON.parse(messages[1].content) };
});
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const say = (line) => console.log(`[${TAG}] ${line}`);

/** The answer as triage JSON (an object with the four string fields), else null. */
function asTriage(text) {
  try {
    const v = JSON.parse(text.trim());
    return v && typeof v === "object" && SCHEMA.required.every((k) => typeof v[k] === "string") ? v : null;
  } catch {
    return null;
  }
}

async function score(step, infer, file, schema) {
  const rows = readRows(file);
  const t0 = Date.now();
  const answers = new Array(rows.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < rows.length; i = next++) {
      const res = await infer({
        messages: [{ role: "user", content: rows[i].ticket }],
        stream: false,
        temperature: 0,
        maxTokens: 64,
        ...(schema && { responseFormat: { type: "json_schema", json_schema: { name: "triage", schema, strict: true } } }),
      });
      answers[i] = (await res.json()).content ?? "";
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  let valid = 0, category = 0, priority = 0;
  const confusion = {};
  const wrong = [];
  rows.forEach(({ ticket, want }, i) => {
    const got = asTriage(answers[i]);
    const said = got ? got.category : "(invalid)";
    confusion[want.category] ??= {};
    confusion[want.category][said] = (confusion[want.category][said] ?? 0) + 1;
    if (!got) return wrong.push(`invalid: ${JSON.stringify(answers[i]).slice(0, 120)}`);
    valid++;
    if (got.category === want.category) category++;
    else wrong.push(`${want.category} → ${got.category} ("${got.summary}"): ${ticket.slice(0, 110)}`);
    if (got.priority === want.priority) priority++;
  });
  const n = rows.length;
  say(`step=${step} ${file.split("/").pop()}${schema ? " (json_schema)" : ""}: valid ${valid}/${n} · category ${category}/${n} (${Math.round((100 * category) / n)}%) · priority ${priority}/${n} · ${((Date.now() - t0) / 1000).toFixed(1)}s · load ${load()}`);
  for (const c of CATEGORIES) say(`  ${c.padEnd(12)} ${JSON.stringify(confusion[c] ?? {})}`);
  if (env.SHOW_WRONG) for (const w of wrong) say(`  ${w}`);
}

const trainer = createTrainer({
  name: `sweep-${TAG}`,
  model: env.MODEL ?? "google/gemma-3-270m",
  dataset: { type: "blob", url: `file://${env.DATA ?? data("triage.jsonl")}` },
  lora: { r: 16, alpha: Number(env.ALPHA ?? 16) },
  maxSteps: STEPS,
  batchSize: Number(env.BS ?? 5),
  learningRate: Number(env.LR ?? 2e-3),
  saveSteps: Number(env.SAVE ?? STEPS),
  ...(env.SCHED && { lrSchedulerType: env.SCHED }),
  ...(env.WARM && { warmupSteps: Number(env.WARM) }),
  ...(env.WD && { weightDecay: Number(env.WD) }),
  ...(env.EVAL_STEPS && { evalSteps: Number(env.EVAL_STEPS) }),
  callbacks: {
    onStarted: () => say(`started: steps ${STEPS}, batch ${env.BS ?? 5}, lr ${env.LR ?? 2e-3}, load ${load()}`),
    onLog: ({ step, loss, evalLoss }) => {
      if (step % 20 === 0 || evalLoss != null) say(`step ${step} loss ${loss?.toFixed(4)}${evalLoss != null ? ` eval loss ${evalLoss.toFixed(4)}` : ""} load ${load()}`);
    },
    onCheckpoint: async ({ step, infer }) => {
      if (!SCORE_AT.includes(step)) return;
      await score(step, infer, env.EVAL ?? data("triage-eval.jsonl"));
      if (env.MORE) await score(step, infer, env.MORE);
      if (env.SCHEMA) await score(step, infer, env.EVAL ?? data("triage-eval.jsonl"), SCHEMA);
    },
  },
});
const { job } = await trainer.wait();
say(`${job.status} (job ${job.id}), load ${load()}`);
