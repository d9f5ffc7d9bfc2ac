#!/usr/bin/env node
// Writes the starter datasets `arkor init` copies into a new project, one
// per template, as chatml JSONL next to this script:
//
//   triage.jsonl     support ticket -> {"category","priority"} JSON
//   translate.jsonl  English sentence -> French
//   redaction.jsonl  text with personal data -> the same text with
//                    [NAME] / [EMAIL] / [PHONE] placeholders
//
// The rows are synthetic, composed from the small tables below with a seeded
// PRNG: running it again rewrites the files byte for byte.
//
// Rows carry no system turn: `arkor chat --prompt TEXT` (what a scaffolded
// trainer suggests) sends the bare text, so the data teaches that bare text
// gets the task done. A model trained with
// the instruction as a system turn only does the task when it is present.
//
//   node lib/cli/templates/make-datasets.mjs

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
export const ROWS = 40;

/** mulberry32: a small deterministic PRNG. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];

// ---------------------------------------------------------------- triage
const TICKETS = [
  ["login", "high", "I can't log in since this morning, the password reset email never arrives."],
  ["login", "medium", "The two-factor code from the app is always rejected as expired."],
  ["login", "urgent", "Someone changed my account email and I am locked out of {product}."],
  ["billing", "high", "I was charged twice for order #{order}."],
  ["billing", "low", "Could you send me a copy of the invoice for order #{order}?"],
  ["billing", "medium", "My card was declined when renewing {product}, but the bank says it's fine."],
  ["shipping", "high", "Order #{order} says delivered but nothing arrived."],
  ["shipping", "medium", "My parcel for order #{order} has not moved for a week."],
  ["bug", "high", "{product} crashes every time I open the settings page."],
  ["bug", "medium", "Exported reports from {product} have the dates in the wrong column."],
  ["feature", "low", "It would be great if {product} had a dark mode."],
  ["feature", "low", "Please add an option to export everything as CSV."],
  ["outage", "urgent", "{product} is down for our whole team, every page returns an error 503."],
  ["privacy", "medium", "Please delete all the personal data you hold about me."],
];
const PRODUCTS = ["the mobile app", "the dashboard", "Arkor Notes", "the web editor", "the desktop client"];
const OPENERS = ["", "Hi, ", "Hello support, ", "Good morning, ", "Hey team, "];
const CLOSERS = ["", " Thanks.", " Please help.", " Thanks in advance!", " Regards, a customer."];

function triage() {
  const r = rng(1);
  const rows = [];
  const seen = new Set();
  while (rows.length < ROWS) {
    const [category, priority, body] = TICKETS[rows.length % TICKETS.length];
    const text = body.replace("{product}", pick(r, PRODUCTS)).replace("{order}", String(10000 + Math.floor(r() * 90000)));
    const opener = pick(r, OPENERS);
    const ticket = `${opener}${opener ? text[0].toLowerCase() + text.slice(1) : text}${pick(r, CLOSERS)}`;
    if (seen.has(ticket)) continue;
    seen.add(ticket);
    rows.push([
      { role: "user", content: ticket },
      { role: "assistant", content: JSON.stringify({ category, priority }) },
    ]);
  }
  return rows;
}

// ------------------------------------------------------------- translate
// [english noun, french noun with article after "où est"/"je cherche"]
const PLACES = [
  ["the station", "la gare"],
  ["the museum", "le musée"],
  ["the hotel", "l'hôtel"],
  ["the bakery", "la boulangerie"],
  ["the pharmacy", "la pharmacie"],
  ["the beach", "la plage"],
  ["the airport", "l'aéroport"],
  ["the library", "la bibliothèque"],
];
const THINGS = [
  ["a coffee", "un café"],
  ["a glass of water", "un verre d'eau"],
  ["the bill", "l'addition"],
  ["a ticket", "un billet"],
  ["a map", "un plan"],
  ["some bread", "du pain"],
];
const TRANSLATE_FORMS = [
  (p) => [`Where is ${p[0]}?`, `Où est ${p[1]} ?`],
  (p) => [`I am looking for ${p[0]}.`, `Je cherche ${p[1]}.`],
  (p) => [`Is ${p[0]} far from here?`, `Est-ce que ${p[1]} est loin d'ici ?`],
  (t) => [`I would like ${t[0]}, please.`, `Je voudrais ${t[1]}, s'il vous plaît.`],
  (t) => [`Can I have ${t[0]}?`, `Est-ce que je peux avoir ${t[1]} ?`],
];

function translate() {
  const rows = [];
  for (const form of TRANSLATE_FORMS.slice(0, 3)) for (const p of PLACES) rows.push(form(p));
  for (const form of TRANSLATE_FORMS.slice(3)) for (const t of THINGS) rows.push(form(t));
  const r = rng(2);
  // Deterministic shuffle (Fisher-Yates), then the first ROWS.
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows.slice(0, ROWS).map(([en, fr]) => [
    { role: "user", content: en },
    { role: "assistant", content: fr },
  ]);
}

// ------------------------------------------------------------- redaction
const FIRST = ["Alice", "Bruno", "Chen", "Dara", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas"];
const LAST = ["Martin", "Okafor", "Silva", "Novak", "Tanaka", "Berg", "Rossi", "Kim"];
const REDACTION_FORMS = [
  "Please call {name} on {phone} about the delivery.",
  "Contact {name} at {email} for the contract.",
  "{name} ({email}) asked for a refund yesterday.",
  "Meeting moved to 3pm, {name} will dial in from {phone}.",
  "Send the invoice to {email} and copy {name}.",
  "Hi, this is {name}; reach me at {phone} or {email}.",
];

function redaction() {
  const r = rng(3);
  const rows = [];
  const seen = new Set();
  while (rows.length < ROWS) {
    const first = pick(r, FIRST);
    const last = pick(r, LAST);
    const name = `${first} ${last}`;
    const email = `${first.toLowerCase()}.${last.toLowerCase()}@example.${pick(r, ["com", "org", "net"])}`;
    const phone = `+1 555 ${String(100 + Math.floor(r() * 900))} ${String(1000 + Math.floor(r() * 9000))}`;
    const form = REDACTION_FORMS[rows.length % REDACTION_FORMS.length];
    const fill = (n, e, p) => form.replace("{name}", n).replace("{email}", e).replace("{phone}", p);
    const text = fill(name, email, phone);
    if (seen.has(text)) continue;
    seen.add(text);
    rows.push([
      { role: "user", content: text },
      { role: "assistant", content: fill("[NAME]", "[EMAIL]", "[PHONE]") },
    ]);
  }
  return rows;
}

export const DATASETS = { triage, translate, redaction };

function main() {
  for (const [name, make] of Object.entries(DATASETS)) {
    const rows = make();
    const text = rows.map((messages) => JSON.stringify({ messages })).join("\n") + "\n";
    writeFileSync(join(HERE, `${name}.jsonl`), text);
    process.stdout.write(`${name}.jsonl: ${rows.length} rows\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
