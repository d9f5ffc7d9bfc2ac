#!/usr/bin/env node
// Generates triage.jsonl, the demo's training rows: synthetic support tickets
// with their triage as JSON. Deterministic (seeded PRNG, no clock, no
// environment): `node examples/data/make_triage.mjs` rewrites the file byte
// for byte. The problems are in triage-train-problems.mjs, the words around
// them in triage-train-words.mjs;
// the eval rows come from a separate generator with its own templates and
// vocabulary (make_triage_eval.mjs).

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { IMPACT_CATEGORIES, PRIORITIES, checkRow, fill, histogram, raise, rng, row } from "./triage-common.mjs";
import { SCENARIOS } from "./triage-train-problems.mjs";
import { ALSO, BACKSTORY, CLOSE, FOREIGN, IMPACT, OPEN, V } from "./triage-train-words.mjs";

export const SEED = 20260101;
export const ROWS_PER_CATEGORY = 250;

function vars(r) {
  const v = Object.fromEntries(Object.entries(V).map(([k, xs]) => [k, r.pick(xs)]));
  v.email = `${r.pick(V.first)}${r.pick([".", "_", ""])}${r.pick(V.last)}@${r.pick(V.domain)}`;
  v.order = `${r.pick(["#", "#", ""])}${r.pick(["A", "B", "", ""])}${r.int(10000, 99999)}`;
  v.days = r.int(3, 21);
  v.hours = r.int(2, 9);
  v.n = r.int(2, 5);
  v.amount = `$${r.pick([9, 12, 19, 29, 49, 99, 149])}.${r.pick(["00", "99"])}`;
  v.p = v.product.replace(/^the /, "");
  return v;
}

// The kinds of ticket, in these shares (of 32): plain 8, very short 4, the
// problem among a sentence or two of context 7, very long 1 (they cost the
// most tokens: a batch is padded to its longest row), two issues 4,
// non-native English 4, another language 4.
const KINDS = [
  ...Array(8).fill("plain"), ...Array(4).fill("short"), ...Array(7).fill("context"), "long",
  ...Array(4).fill("multi"), ...Array(4).fill("nonnative"), ...Array(4).fill("foreign"),
];

const slots = (t) => new Set([...t.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));

/** The first summary whose slots the ticket text all used. */
function summaryFor(scn, used, v) {
  const s = scn.sum.find((t) => [...slots(t)].every((k) => used.has(k))) ?? scn.sum.at(-1);
  const out = capital(fill(s, v));
  return out.split(/\s+/).length <= 12 ? out : capital(fill(scn.sum.at(-1), v));
}

/** Typos and chat-speak: swapped, dropped and doubled letters, no apostrophes, lowercase. */
function typos(r, text) {
  let t = text
    .split(" ")
    .map((w) => {
      if (w.length < 4 || !r.chance(0.12)) return w;
      const i = r.int(1, w.length - 2);
      switch (r.int(0, 2)) {
        case 0: return w.slice(0, i) + w[i + 1] + w[i] + w.slice(i + 2);
        case 1: return w.slice(0, i) + w.slice(i + 1);
        default: return w.slice(0, i) + w[i] + w.slice(i);
      }
    })
    .join(" ");
  if (r.chance(0.5)) t = t.replace(/'/g, "");
  if (r.chance(0.4)) t = t.toLowerCase();
  if (r.chance(0.3)) t = t.replace(/\bplease\b/gi, r.pick(["pls", "plz"])).replace(/\byou\b/gi, "u").replace(/\bthanks\b/gi, "thx");
  return t;
}

// Words a ticket may say either way: a ticket swaps some of them, so that no
// category hangs on one word.
const SYNONYMS = [
  ["log in", "sign in", "log on"],
  ["logged into", "signed into", "got into"],
  ["charged", "billed"],
  ["package", "parcel"],
  ["website", "site"],
  ["app", "application"],
  ["I can't", "I cannot", "I'm unable to"],
  ["please", "kindly"],
  ["doesn't work", "isn't working", "is broken"],
  ["subscription", "membership"],
  ["hacked", "compromised"],
];

/** Swaps some words of `text` for their synonyms (the first letter's case is kept). */
function paraphrase(r, text) {
  let t = text;
  for (const group of SYNONYMS) {
    const re = new RegExp(`\\b(${group.join("|")})\\b`, "gi");
    t = t.replace(re, (m) => {
      if (!r.chance(0.5)) return m;
      const w = r.pick(group.filter((g) => g.toLowerCase() !== m.toLowerCase()));
      return m[0] === m[0].toUpperCase() && m[0] !== m[0].toLowerCase() ? w.charAt(0).toUpperCase() + w.slice(1) : w;
    });
  }
  return t;
}

const capital = (t) => t.charAt(0).toUpperCase() + t.slice(1);
const join = (parts) => parts.filter(Boolean).join(" ");

/** One ticket and its labels. */
function ticket(r, byCat, cat) {
  const v = vars(r);
  const kind = r.pick(KINDS);
  if (kind === "foreign") {
    const f = r.pick(FOREIGN.filter((x) => x[0] === cat));
    return { text: fill(r.pick(f[3]), v), labels: { category: cat, priority: f[1], summary: f[2] } };
  }
  const scn = r.pick(byCat[cat]);
  const used = new Set();
  const use = (t) => {
    for (const k of slots(t)) used.add(k);
    return fill(t, v);
  };
  let priority = scn.pri;
  let core;
  if (kind === "short") core = use(r.pick(scn.short));
  else if (kind === "nonnative") core = capital(use(r.pick(scn.nonnative)));
  else core = capital(use(r.pick(scn.cores)));
  const tone = r.pick(["neutral", "neutral", "polite", "angry"]);
  let body = [core];
  if (kind === "context") {
    // One or two sentences of context, mostly before the problem: the problem decides.
    const ctx = r.shuffle([...BACKSTORY]).slice(0, r.int(1, 2)).map(use);
    body = r.chance(0.7) ? [...ctx, core] : [core, ...ctx];
  } else if (kind === "long") {
    body = r.shuffle([...r.shuffle([...BACKSTORY]).slice(0, r.int(3, 4)).map(use), core]);
    body.push(use(r.pick(scn.cores.filter((c) => c !== core)) ?? ""));
  }
  if (kind !== "short" && IMPACT_CATEGORIES.has(cat) && r.chance(0.35)) {
    body.push(r.pick(IMPACT));
    priority = raise(priority);
  }
  if (kind === "multi") {
    // A lesser second issue: the ticket's triage is its most urgent one.
    const lesser = SCENARIOS.filter((s) => s.cat !== cat && PRIORITIES.indexOf(s.pri) < PRIORITIES.indexOf(priority));
    if (lesser.length) {
      const other = fill(r.pick(r.pick(lesser).cores), v);
      const lower = /^I\b/.test(other) ? other : other.charAt(0).toLowerCase() + other.slice(1);
      const aside = fill(r.pick(ALSO), { x: lower });
      body = r.chance(0.7) ? [...body, aside] : [`Two things. ${other}`, `More importantly: ${body.join(" ")}`];
    }
  }
  let text = kind === "short" ? core : join([use(r.pick(OPEN[tone])), ...body, use(r.pick(CLOSE[tone]))]);
  if (r.chance(0.5)) text = paraphrase(r, text);
  if (tone === "angry" && r.chance(0.4)) text = text.replace(/\.$/, "!!!");
  if (r.chance(kind === "short" ? 0.5 : 0.25)) text = typos(r, text);
  // Shouting: mostly the angry ones.
  if (r.chance(tone === "angry" ? 0.25 : 0.03)) text = text.toUpperCase();
  return { text, labels: { category: cat, priority, summary: summaryFor(scn, used, v) } };
}

/** The training rows, as JSONL lines. */
export function trainingRows() {
  const r = rng(SEED);
  const byCat = {};
  for (const s of SCENARIOS) for (let w = 0; w < s.weight; w++) (byCat[s.cat] ??= []).push(s);
  const seen = new Set();
  const lines = [];
  for (let i = 0; i < ROWS_PER_CATEGORY; i++) {
    for (const cat of Object.keys(byCat)) {
      for (let tries = 0; ; tries++) {
        const t = ticket(r, byCat, cat);
        const key = t.text.toLowerCase();
        if (seen.has(key)) {
          if (tries > 50) throw new Error(`cannot make another distinct ${cat} ticket`);
          continue;
        }
        seen.add(key);
        lines.push(row(t.text, t.labels));
        break;
      }
    }
  }
  lines.forEach(checkRow);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lines = trainingRows();
  const out = new URL("./triage.jsonl", import.meta.url);
  writeFileSync(out, lines.join("\n") + "\n");
  console.log(`${lines.length} rows → ${fileURLToPath(out)}`);
  console.log("category", histogram(lines, "category"));
  console.log("priority", histogram(lines, "priority"));
}
