// The demo's data: both generators are deterministic and the files in the
// repository are exactly what they write; the eval file shares no ticket
// (so no row) with the training file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { trainingRows } from "../examples/data/make_triage.mjs";
import { V as EVAL_WORDS, evalRows } from "../examples/data/make_triage_eval.mjs";
import { ANSWER_KEYS, CATEGORIES, PRIORITIES, TEAM, checkRow, ticketKey } from "../examples/data/triage-common.mjs";

const file = (name) => readFileSync(new URL(`../examples/data/${name}`, import.meta.url), "utf8");
const lines = (text) => text.trim().split("\n");

test("the training generator is deterministic and wrote triage.jsonl", () => {
  const a = trainingRows();
  assert.deepEqual(trainingRows(), a);
  assert.equal(file("triage.jsonl"), a.join("\n") + "\n", "rerun `node examples/data/make_triage.mjs`");
  assert.ok(a.length >= 1000, `${a.length} rows`);
});

test("the eval generator is deterministic and wrote triage-eval.jsonl", () => {
  const train = lines(file("triage.jsonl"));
  const e = evalRows(train);
  assert.deepEqual(evalRows(train), e);
  assert.equal(file("triage-eval.jsonl"), e.join("\n") + "\n", "rerun `node examples/data/make_triage_eval.mjs`");
});

test("the eval file shares no row, nor any ticket, with the training file", () => {
  const train = lines(file("triage.jsonl"));
  const evals = lines(file("triage-eval.jsonl"));
  const trainRows = new Set(train);
  const trainTickets = new Set(train.map(ticketKey));
  assert.deepEqual(evals.filter((l) => trainRows.has(l)), []);
  assert.deepEqual(evals.filter((l) => trainTickets.has(ticketKey(l))), []);
  // Every category is scored, and every row is a valid triage row.
  for (const l of [...train, ...evals]) checkRow(l);
  const cats = new Set(evals.map((l) => JSON.parse(JSON.parse(l).messages[1].content).category));
  assert.deepEqual([...cats].sort(), [...CATEGORIES].sort());
  assert.equal(Object.keys(TEAM).length, 8);
});

test("the training rows are varied: short and long, other languages, several issues", () => {
  const tickets = lines(file("triage.jsonl")).map((l) => JSON.parse(l).messages[0].content);
  const words = tickets.map((t) => t.split(/\s+/).length);
  assert.ok(words.filter((n) => n <= 4).length >= 50, "very short tickets");
  assert.ok(words.filter((n) => n >= 45).length >= 50, "very long tickets");
  assert.ok(tickets.filter((t) => /[áéíóúãçäöüß]|\b(mi|mon|mein|minha)\b/i.test(t)).length >= 50, "other languages");
  assert.ok(tickets.filter((t) => /^(Also|One more thing|And btw|Unrelated|P\.S\.)|\b(Also, |One more thing: |P\.S\. |Two things\.)/.test(t)).length >= 50, "several issues");
  assert.equal(new Set(tickets.map((t) => t.toLowerCase())).size, tickets.length, "no ticket twice");
});

test("the training tickets name none of the eval generator's products, places, names, tools or items", () => {
  const tickets = lines(file("triage.jsonl")).map((l) => JSON.parse(l).messages[0].content);
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const found = [];
  for (const [slot, values] of Object.entries(EVAL_WORDS)) {
    for (const value of values) {
      // Phrases compare case-insensitively; single words (names, plans) by their
      // case, so French "plus" is not the plan "Plus".
      const re = new RegExp(`\\b${escape(value)}\\b`, /\s/.test(value) ? "i" : "");
      const n = tickets.filter((t) => re.test(t)).length;
      if (n) found.push(`${slot} ${JSON.stringify(value)}: ${n} tickets`);
    }
  }
  assert.deepEqual(found, []);
});

test("the demo's triage schema is the engine's triage fixture, with the data's labels", () => {
  const source = readFileSync(new URL("../examples/demo/index.ts", import.meta.url), "utf8");
  const start = source.indexOf("const TRIAGE_SCHEMA: Record<string, unknown> = ");
  assert.ok(start >= 0, "examples/demo/index.ts defines TRIAGE_SCHEMA");
  const literal = source.slice(source.indexOf("{", start), source.indexOf("\n};", start) + 2);
  const schema = new Function(`return (${literal});`)();
  const fixture = JSON.parse(readFileSync(new URL("../crates/arkor-engine/tests/fixtures/triage_schema.json", import.meta.url), "utf8"));
  assert.deepEqual(schema, fixture);
  // The grammar writes the properties in the schema's order: the rows' order, or
  // constrained decoding would fight what the model learned.
  for (const s of [schema, fixture]) {
    assert.deepEqual(Object.keys(s.properties), ANSWER_KEYS);
    assert.deepEqual(s.required, ANSWER_KEYS);
  }
  assert.deepEqual(new Set(schema.properties.category.enum), new Set(CATEGORIES));
  assert.deepEqual(new Set(schema.properties.team.enum), new Set(Object.values(TEAM)));
  assert.deepEqual(schema.properties.priority.enum, PRIORITIES);
});
