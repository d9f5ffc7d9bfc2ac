// What both triage generators share: the label rules (categories, teams,
// priorities), a seeded PRNG, the row shape and its checks. The tickets
// themselves come from each generator's own templates.

/** Team of each category: the answer's `team` follows from its `category`. */
export const TEAM = {
  login: "identity",
  billing: "billing",
  shipping: "logistics",
  bug: "engineering",
  feature: "product",
  privacy: "trust-safety",
  outage: "sre",
  cancellation: "retention",
};

export const CATEGORIES = Object.keys(TEAM);
export const PRIORITIES = ["low", "medium", "high", "urgent"];

/** The categories whose tickets may carry a business-impact sentence, which raises their priority. */
export const IMPACT_CATEGORIES = new Set(["login", "bug", "shipping"]);

/** One level up (a business-impact sentence on an `IMPACT_CATEGORIES` ticket). */
export function raise(priority) {
  return PRIORITIES[Math.min(PRIORITIES.indexOf(priority) + 1, PRIORITIES.length - 1)];
}

/** Mulberry32: a small seeded PRNG, the same numbers on every Node version. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = (xs) => xs[Math.floor(next() * xs.length)];
  const chance = (p) => next() < p;
  const shuffle = (xs) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [xs[i], xs[j]] = [xs[j], xs[i]];
    }
    return xs;
  };
  return { next, int, pick, chance, shuffle };
}

/** Fills `{name}` slots from `vars`; a slot without a value is an error in the template. */
export function fill(template, vars) {
  return template.replace(/\{(\w+)\}/g, (_, k) => {
    if (!(k in vars)) throw new Error(`template slot {${k}} has no value: ${template}`);
    return String(vars[k]);
  });
}

/**
 * The order of a triage answer's keys. The summary comes first so that the model
 * restates the problem before it picks the labels: with the same rows and steps
 * this took the demo from 33-34 to 37-39 of the 48 eval tickets' categories
 * (examples/demo/EXPERIMENTS.md).
 */
export const ANSWER_KEYS = ["summary", "category", "priority", "team"];

/** The chatml row for a ticket and its triage (keys always in ANSWER_KEYS order). */
export function row(ticket, { category, priority, summary }) {
  const answer = JSON.stringify({ summary, category, priority, team: TEAM[category] });
  return JSON.stringify({ messages: [{ role: "user", content: ticket }, { role: "assistant", content: answer }] });
}

/** Throws unless `line` is a well-formed triage row. */
export function checkRow(line) {
  const { messages } = JSON.parse(line);
  if (messages.length !== 2 || messages[0].role !== "user" || messages[1].role !== "assistant") throw new Error(`not user then assistant: ${line}`);
  const a = JSON.parse(messages[1].content);
  if (Object.keys(a).join() !== ANSWER_KEYS.join()) throw new Error(`answer keys: ${line}`);
  if (TEAM[a.category] !== a.team || !PRIORITIES.includes(a.priority)) throw new Error(`labels: ${line}`);
  if (a.summary.split(/\s+/).length > 12) throw new Error(`summary over 12 words: ${line}`);
  if (!messages[0].content.trim()) throw new Error(`empty ticket: ${line}`);
}

/** The ticket text of a row, normalised the way the disjointness check compares them. */
export function ticketKey(line) {
  return JSON.parse(line).messages[0].content.toLowerCase().replace(/\s+/g, " ").trim();
}

/** Histogram of a field of the rows' answers. */
export function histogram(lines, field) {
  const h = {};
  for (const l of lines) {
    const v = JSON.parse(JSON.parse(l).messages[1].content)[field];
    h[v] = (h[v] || 0) + 1;
  }
  return h;
}
