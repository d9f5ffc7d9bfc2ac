#!/usr/bin/env node
// Generates triage-eval.jsonl, the demo's eval rows: tickets written apart
// from the training rows, from this file's own templates and vocabulary
// (other products, carriers, names, phrasings and languages), labelled by the
// same rules (triage-common.mjs). Deterministic: rerunning rewrites the file
// byte for byte. It refuses to write a ticket that the training file holds.

import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CATEGORIES, IMPACT_CATEGORIES, checkRow, fill, histogram, raise, rng, row, ticketKey } from "./triage-common.mjs";

export const SEED = 77031;
export const ROWS_PER_CATEGORY = 6;

export const V = {
  product: ["the tablet app", "the admin console", "the Linux client", "the smartwatch app", "the Chrome add-on", "the reporting portal"],
  name: ["Marta", "Kwame", "Lena", "Oscar", "Aiko", "Bruno", "Chloe", "Dmitri"],
  mail: ["marta.v@brightlane.co", "kwame@osei-design.net", "lena.h@posteo.de", "oscar77@hotmail.com", "aiko.m@icloud.com"],
  plan: ["Enterprise", "Growth", "Basic", "Plus"],
  carrier: ["Royal Mail", "Canada Post", "Hermes", "PostNL", "GLS"],
  item: ["a coffee grinder", "two yoga mats", "the webcam", "a backpack", "wireless earbuds", "a monitor stand"],
  screen: ["the calendar view", "the invoices page", "the team settings", "the upload dialog", "the search bar"],
  code: ["X-9913", "ERR_CONFLICT_409", "E7781", "SYNC_TIMEOUT"],
  city: ["Lagos", "Toronto", "Madrid", "Singapore", "Warsaw"],
  tool: ["Trello", "Microsoft Teams", "Dropbox", "Asana", "Shopify"],
};

function vars(r) {
  const v = Object.fromEntries(Object.entries(V).map(([k, xs]) => [k, r.pick(xs)]));
  v.ref = `${r.pick(["ORD-", "SO", "no. "])}${r.int(200000, 899999)}`;
  v.price = `${r.pick(["€", "£", "$"])}${r.int(15, 240)}`;
  v.weeks = r.int(2, 6);
  v.mins = r.pick([20, 30, 45, 90]);
  return v;
}

// category, priority, summary, tickets (full / terse / non-native mixed).
const T = (cat, pri, summary, tickets) => ({ cat, pri, summary, tickets });
const SCENARIOS = [
  T("login", "medium", "Cannot sign in to account", [
    "Since the weekend the sign-in page just says 'something went wrong' when I enter my details.",
    "signin broken for me, tried two browsers",
    "Hello, me and my colleague we both cannot enter to the account since morning, it says credentials not valid.",
  ]),
  T("login", "high", "Verification codes not received at login", [
    "The six-digit verification code never gets texted to me, so I'm stuck at the login screen of {product}.",
    "no sms code = no access. help",
  ]),
  T("login", "medium", "Magic link login expired", [
    "Every magic link you email me says 'link expired' the moment I click it.",
    "The login link in the mail is always telling expired, also when I open it immediately.",
  ]),
  T("billing", "high", "Unexpected charge of {price}", [
    "There's a {price} charge on my credit card statement from you that I don't recognise at all.",
    "who took {price} from my account??",
    "I see on my bank a payment of {price} to your company but I never buy this.",
  ]),
  T("billing", "medium", "VAT charged despite valid VAT ID", [
    "Your invoices add VAT although we entered a valid EU VAT ID in the billing settings.",
    "why VAT on my invoice, our VAT number is in the profile",
  ]),
  T("billing", "medium", "Promo code not applied", [
    "I used the code SPRING20 at checkout but the full {price} was taken.",
    "The discount coupon did not work, I paid the complete price.",
  ]),
  T("shipping", "high", "Parcel lost by {carrier}", [
    "{carrier} says they handed my parcel ({ref}) to a neighbour, but none of my neighbours have it.",
    "Package {ref} vanished, {carrier} can't find it",
  ]),
  T("shipping", "medium", "Package held at customs", [
    "My package with {item} has been sitting in customs for {weeks} weeks. Do I need to pay something?",
    "The parcel is stopping in the customs, nobody tell me what to do.",
  ]),
  T("shipping", "medium", "Item missing from order {ref}", [
    "Order {ref} came today but {item} was not in the box.",
    "box arrived, {item} missing",
  ]),
  T("bug", "high", "{product} freezes on {screen}", [
    "Opening {screen} in {product} makes it freeze completely, I have to force quit.",
    "{screen} = instant freeze",
    "When I go in {screen} the program is hanging and I must kill it.",
  ]),
  T("bug", "medium", "Search returns no results", [
    "Search finds nothing, even for documents whose exact title I type in.",
    "The search is giving zero result always, also for words I know exist.",
  ]),
  T("bug", "medium", "Uploads stuck at 99%", [
    "Every upload in {product} gets to 99% and stays there forever.",
    "uploads hang at 99 percent",
  ]),
  T("feature", "low", "Feature request: {tool} integration", [
    "Our agency lives in {tool}; a native connection would make us switch our whole team over.",
    "would love {tool} support",
    "Please think about to make one connector for {tool}, it will help many people.",
  ]),
  T("feature", "low", "Feature request: two-factor via hardware keys", [
    "Could you support hardware security keys like YubiKey for two-step login?",
    "hardware key support for 2-step verification when?",
  ]),
  T("feature", "low", "Feature request: scheduled reports", [
    "It'd be handy to have reports emailed to me automatically every Monday.",
    "Is possible to receive the report automatic each week by mail?",
  ]),
  T("privacy", "urgent", "Account accessed from unknown device", [
    "I was just notified of a new sign-in from {city} on a device I have never owned. My password was changed too.",
    "someone in {city} is in my account right now!!!",
  ]),
  T("privacy", "medium", "Asks what data is stored and why", [
    "Under GDPR article 15, please tell me which personal data you hold about me and why.",
    "I want to know what information about me you keep and for what reason.",
  ]),
  T("privacy", "high", "Personal data shared in public link", [
    "A public share link from your app shows our customers' phone numbers to anyone who has it.",
    "Your public links are exposing personal phone numbers of our clients.",
  ]),
  T("outage", "urgent", "Service unreachable for all users", [
    "Nobody in our company can reach your service for the last {mins} minutes, we only get a blank page.",
    "is the whole platform down? nothing loads",
    "Since {mins} minutes the complete platform is not answering for all our users.",
  ]),
  T("outage", "urgent", "Webhooks stopped firing", [
    "None of our webhooks have fired since this morning and orders are piling up.",
    "webhooks dead since 6am",
  ]),
  T("outage", "urgent", "Login service down for everyone", [
    "Nobody on our team of 40 can log in, the auth server returns 503 for everyone.",
  ]),
  T("cancellation", "medium", "Wants to end {plan} subscription", [
    "We're winding down the project, so please end our {plan} subscription at the next renewal.",
    "end my {plan} sub",
    "Please I want to stop my {plan} subscription from next month.",
  ]),
  T("cancellation", "medium", "Wants to cancel before trial ends", [
    "My free trial ends on Friday and I don't want to be billed, how do I stop it?",
    "stop the trial before i get charged",
  ]),
  T("cancellation", "low", "Asks to pause subscription", [
    "Instead of cancelling, can we pause our subscription over the summer?",
    "Is it possible to freeze the account for two months and not pay?",
  ]),
];

const FOREIGN = [
  ["login", "medium", "Cannot sign in to account", ["Non riesco ad accedere al mio account da ieri.", "Ik kan niet meer inloggen op mijn account."]],
  ["billing", "high", "Unexpected charge of {price}", ["Hay un cargo de {price} que no reconozco.", "C'è un addebito di {price} che non riconosco."]],
  ["shipping", "medium", "Item missing from order {ref}", ["Nel pacco {ref} manca un articolo.", "In mijn pakket {ref} ontbreekt een artikel."]],
  ["bug", "medium", "Search returns no results", ["La recherche ne trouve jamais rien.", "De zoekfunctie geeft nooit resultaten."]],
  ["feature", "low", "Feature request: scheduled reports", ["Sarebbe utile ricevere i report ogni settimana via email.", "Wäre es möglich, Berichte automatisch jede Woche zu bekommen?"]],
  ["privacy", "urgent", "Account accessed from unknown device", ["Alguém acessou minha conta de um aparelho desconhecido!", "Qualcuno è entrato nel mio account da un dispositivo sconosciuto!"]],
  ["outage", "urgent", "Service unreachable for all users", ["Il servizio non è raggiungibile per nessuno di noi.", "De dienst is voor niemand bereikbaar."]],
  ["cancellation", "medium", "Wants to end subscription", ["Vorrei disdire il mio abbonamento.", "Ik wil mijn abonnement opzeggen."]],
];

const GREET = ["", "", "Hiya,", "Dear Sir or Madam,", "Yo,", "Good afternoon,", "To whom it may concern,"];
const SIGN = ["", "", "Best, {name}", "Regards", "ASAP please!!", "Looking forward to your reply.", "Honestly fed up."];
const CONTEXT = [
  "We signed up {weeks} weeks ago after a recommendation.",
  "I'm using {product} on an older laptop.",
  "Our IT person is on holiday so I'm the one writing.",
  "I've already searched your help centre without luck.",
  "This happened right after I changed my profile picture, maybe related.",
];
const IMPACT = ["Payroll is due today and we can't work.", "A big customer is waiting on us.", "Three departments are stuck because of this."];
const ASIDE = ["By the way, a {tool} integration would be great.", "Unrelated: your invoices could show the order number.", "Side note, the dark theme is too grey."];

function mangle(r, text) {
  return text
    .split(" ")
    .map((w) => (w.length > 4 && r.chance(0.15) ? w.slice(0, -2) + w.at(-1) + w.at(-2) : w))
    .join(" ")
    .replace(/\byou\b/g, "ya");
}

function ticket(r, cat) {
  const v = vars(r);
  if (r.chance(0.15)) {
    const f = r.pick(FOREIGN.filter((x) => x[0] === cat));
    return { text: fill(r.pick(f[3]), v), labels: { category: cat, priority: f[1], summary: fill(f[2], v) } };
  }
  const scn = r.pick(SCENARIOS.filter((s) => s.cat === cat));
  let priority = scn.pri;
  const parts = [fill(r.pick(GREET), v), fill(r.pick(scn.tickets), v)];
  if (r.chance(0.25)) parts.splice(1, 0, fill(r.pick(CONTEXT), v), fill(r.pick(CONTEXT), v));
  if (IMPACT_CATEGORIES.has(cat) && r.chance(0.2)) {
    parts.push(r.pick(IMPACT));
    priority = raise(priority);
  }
  if (priority !== "low" && r.chance(0.2)) parts.push(fill(r.pick(ASIDE), v));
  parts.push(fill(r.pick(SIGN), v));
  let text = parts.filter(Boolean).join(" ");
  if (r.chance(0.2)) text = mangle(r, text);
  if (r.chance(0.1)) text = text.toUpperCase();
  return { text, labels: { category: cat, priority, summary: fill(scn.summary, v) } };
}

/** The eval rows, as JSONL lines; none has a ticket of `trainLines`. */
export function evalRows(trainLines) {
  const r = rng(SEED);
  const taken = new Set(trainLines.map(ticketKey));
  const lines = [];
  for (let i = 0; i < ROWS_PER_CATEGORY; i++) {
    for (const cat of CATEGORIES) {
      for (let tries = 0; ; tries++) {
        const t = ticket(r, cat);
        const line = row(t.text, t.labels);
        if (!taken.has(ticketKey(line))) {
          taken.add(ticketKey(line));
          lines.push(line);
          break;
        }
        if (tries > 50) throw new Error(`cannot make another distinct ${cat} eval ticket`);
      }
    }
  }
  lines.forEach(checkRow);
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const train = readFileSync(new URL("./triage.jsonl", import.meta.url), "utf8").trim().split("\n");
  const lines = evalRows(train);
  const out = new URL("./triage-eval.jsonl", import.meta.url);
  writeFileSync(out, lines.join("\n") + "\n");
  console.log(`${lines.length} rows → ${fileURLToPath(out)}`);
  console.log("category", histogram(lines, "category"));
  console.log("priority", histogram(lines, "priority"));
}
