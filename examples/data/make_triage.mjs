#!/usr/bin/env node
// Generates triage.jsonl, the demo's training rows: synthetic support tickets
// with their triage as JSON. Deterministic (seeded PRNG, no clock, no
// environment): `node examples/data/make_triage.mjs` rewrites the file byte
// for byte. The eval rows come from a separate generator with its own
// templates and vocabulary (make_triage_eval.mjs).

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PRIORITIES, checkRow, fill, histogram, raise, rng, row } from "./triage-common.mjs";

export const SEED = 20260101;
export const ROWS_PER_CATEGORY = 150;

const V = {
  product: ["the mobile app", "the iOS app", "the Android app", "the web dashboard", "the desktop app", "the browser extension", "the Mac app", "the Windows app"],
  first: ["anna", "ben", "carla", "dev", "emma", "farid", "grace", "hiro", "ines", "jonas", "kate", "liam", "maya", "noah", "olga", "priya", "raj", "sara", "tom", "yuki"],
  last: ["smith", "ng", "kowalski", "garcia", "okafor", "berg", "tanaka", "rossi", "patel", "dubois"],
  domain: ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "acme.io", "northwind.com", "fastmail.com", "example.org"],
  plan: ["Pro", "Team", "Business", "Starter", "Premium"],
  weekday: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend"],
  carrier: ["UPS", "DHL", "FedEx", "USPS", "the courier"],
  action: ["opening a project", "uploading a photo", "exporting a report", "switching accounts", "opening settings", "attaching a file", "saving a draft", "starting a sync"],
  item: ["headphones", "a phone case", "the charger", "a blue hoodie", "the starter kit", "a keyboard", "running shoes", "a desk lamp"],
  wrong: ["a red one", "the wrong size", "a completely different product", "only half the order", "someone else's order"],
  integration: ["Slack", "Google Calendar", "Zapier", "Notion", "Salesforce", "Jira", "Outlook", "HubSpot"],
  feature: ["a dark mode", "export to CSV", "keyboard shortcuts", "bulk editing", "recurring tasks", "offline mode", "custom fields", "a public API"],
  code: ["E1042", "ERR_UNKNOWN", "E-500", "0x80070005", "ERR_SAVE_FAILED", "E2201", "ERR_NULL_REF"],
  authcode: ["AUTH_401", "SSO_403", "ERR_SAML_RESPONSE", "E-AUTH-12", "invalid_grant", "ERR_TOKEN_EXPIRED"],
  http: ["502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout", "500 Internal Server Error"],
  region: ["the EU", "the US", "Asia", "the UK", "Australia"],
};

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

// Scenarios: category, base priority, summary ([specific, generic]: the
// specific one only when the ticket names every slot it uses), full
// sentences, very short forms, and non-native phrasings.
const S = (cat, pri, sum, cores, short, nonnative) => ({ cat, pri, sum: [].concat(sum), cores, short, nonnative });

const SCENARIOS = [
  S("login", "medium", ["Password reset email not arriving for {email}", "Password reset email not arriving"],
    ["I asked for a password reset for {email} but the email never came.", "The password reset link isn't arriving, I checked spam too.", "No reset email shows up when I hit 'forgot password'."],
    ["reset email never arrives", "no password reset mail"],
    ["I am request the password reset many times but no any email is coming.", "Reset password mail is not reaching to my inbox {email}."]),
  S("login", "high", "Locked out after losing 2FA device",
    ["I got a new phone and can't get my 2FA codes anymore, so I'm locked out.", "Lost my phone with the authenticator app and now I can't log in to {product}.", "My 2FA device was stolen and I have no backup codes."],
    ["lost my 2fa phone, locked out", "new phone, 2FA codes gone, can't sign in"],
    ["I have change my mobile and now the two factor code not coming, I cannot enter my account."]),
  S("login", "medium", "Account locked after failed login attempts",
    ["My account got locked after a few wrong passwords and won't unlock.", "It says my account is locked for too many attempts.", "After mistyping my password {n} times the account is locked."],
    ["account locked", "locked out after wrong passwords"],
    ["My account is block because I put wrong password some times, please to unblock."]),
  S("login", "high", ["SSO login fails with {authcode}", "SSO login fails"],
    ["Single sign-on fails with error {authcode} when I log in to {product}.", "SSO login stopped working for me, it shows {authcode}.", "Logging in through our company SSO gives {authcode} every time."],
    ["SSO broken: {authcode}", "sso login error {authcode}"],
    ["When I am doing login with SSO of my company it is giving {authcode} always."]),
  S("login", "medium", ["Correct password rejected on {p}", "Correct password rejected at login"],
    ["{product} keeps saying my password is wrong even though it's correct.", "I'm typing the right password but it says it's invalid.", "My password works on the website but {product} rejects it."],
    ["can't log in", "cant login", "password not accepted", "login not working"],
    ["I can not do the login, my password is correct but system say it is wrong.", "I am not able to login since yesterday."]),
  S("login", "medium", ["Login redirect loop on {p}", "Stuck in a login redirect loop"],
    ["After I sign in, {product} sends me straight back to the login page.", "I'm stuck in a login loop, it never gets past sign in."],
    ["login page keeps looping"],
    ["After I put my password it is returning again to the login page, again and again."]),
  S("login", "low", "Wants to change login email",
    ["How do I change the email I use to log in? I want to switch to {email}.", "Can you update my login email to {email}? I'm leaving my old job."],
    ["change my login email to {email}?"],
    ["Please I want to change the email of my login to {email}."]),

  S("billing", "high", ["Charged twice for order {order}", "Charged twice for one order"],
    ["I was charged twice for order {order}, {amount} each time.", "My card shows two payments of {amount} for the same order.", "You billed me double for {order}, please refund one of the charges."],
    ["double charged??", "charged twice for {order}"],
    ["You have take the money two times from my card for the order {order}."]),
  S("billing", "medium", ["Refund not received after {days} days", "Refund not received"],
    ["I was promised a refund {days} days ago and still haven't got it.", "Where is my refund of {amount}? It's been {days} days.", "The refund for order {order} hasn't reached my account."],
    ["where is my refund", "still no refund"],
    ["The refund is not arrive to my bank until now, already {days} days passed."]),
  S("billing", "low", ["Requests invoice for {plan} plan", "Requests an invoice copy"],
    ["Can I get an invoice for my {plan} plan payment? I need it for accounting.", "Please send a copy of last month's invoice to {email}.", "I need an invoice with our company VAT number."],
    ["need an invoice pls", "invoice copy for {plan}?"],
    ["Kindly send me the invoice of last payment, my accountant is asking it."]),
  S("billing", "medium", ["Card declined when upgrading to {plan}", "Card declined on upgrade"],
    ["My card keeps getting declined when I try to upgrade to {plan}.", "Payment fails with {code} when upgrading.", "I can't pay for the {plan} plan, the card is refused every time."],
    ["card declined on upgrade"],
    ["I am trying to pay the {plan} plan but the card is always refusing."]),
  S("billing", "high", ["Charged {amount} after cancelling", "Charged after cancelling subscription"],
    ["I cancelled my subscription but you still charged me {amount}.", "Why was I billed {amount} this month? I cancelled weeks ago.", "I got charged even though my {plan} plan was cancelled."],
    ["cancelled but still charged {amount}"],
    ["I did cancel my subscription before but still you are charging me {amount}."]),
  S("billing", "medium", ["Charged more than the {plan} price", "Charged more than advertised"],
    ["The {plan} plan was advertised cheaper but I was charged {amount}.", "I was billed {amount}, which is more than the pricing page says."],
    ["wrong amount on my bill"],
    ["The price what you charge is more high than what is written in the website."]),

  S("shipping", "medium", ["Order {order} is {days} days late", "Order is late"],
    ["My order {order} was supposed to arrive {days} days ago and still isn't here.", "Order {order} is {days} days late, where is it?", "I ordered {item} and it's way past the delivery date."],
    ["where is my order", "order {order} late", "package not here yet"],
    ["My order {order} is not reach until now, it is late {days} days."]),
  S("shipping", "medium", ["Tracking stuck for order {order}", "Tracking not updating"],
    ["The tracking for {order} hasn't updated in {days} days.", "{carrier} tracking for my parcel is stuck on 'in transit'."],
    ["tracking stuck"],
    ["The tracking of my parcel is not moving since {days} days."]),
  S("shipping", "medium", ["Received wrong item for order {order}", "Received the wrong item"],
    ["I ordered {item} but got {wrong}, order {order}.", "My package arrived today but it's {wrong}."],
    ["got the wrong item"],
    ["I receive {wrong}, this is not what I have ordered."]),
  S("shipping", "medium", ["Order {order} arrived damaged", "Order arrived damaged"],
    ["My package for order {order} arrived crushed and {item} is broken.", "{item} came damaged, the box was torn open."],
    ["item arrived broken"],
    ["The box is coming broken and {item} inside also is damage."]),
  S("shipping", "high", ["Order {order} marked delivered, not received", "Parcel marked delivered but not received"],
    ["Tracking says order {order} was delivered but nothing came.", "{carrier} marked my parcel as delivered yesterday, I never got it.", "It shows delivered but it's not at my door or with the neighbours."],
    ["says delivered, nothing here"],
    ["The system is showing delivered but I did not receive nothing."]),
  S("shipping", "low", ["Change delivery address for {order}", "Wants to change delivery address"],
    ["Can I change the delivery address for order {order}? I'm moving.", "Please update the shipping address on my order to my work address."],
    ["change shipping address?"],
    ["I need to change the address for delivery because I am moving to other house."]),

  S("bug", "high", ["{p} crashes when {action}", "App crashes"],
    ["{product} crashes every time I try {action}.", "Whenever I'm {action}, {product} just closes.", "{product} freezes and then crashes."],
    ["app crashes", "{p} keeps crashing"],
    ["The {p} is closing itself every time when I am {action}."]),
  S("bug", "medium", ["Save button does nothing in {p}", "Save button does nothing"],
    ["The save button in {product} does nothing when I click it.", "Clicking save has no effect, my edits are not saved."],
    ["save button broken"],
    ["When I click on save button nothing is happen."]),
  S("bug", "medium", ["Export produces an empty file", "Export produces an empty file"],
    ["Exporting from {product} gives me an empty file.", "When I export my report the file has no data."],
    ["export is empty"],
    ["The export file is coming empty, no data inside."]),
  S("bug", "low", ["Text unreadable in dark mode on {p}", "Text unreadable in dark mode"],
    ["In dark mode some text in {product} is black on dark grey and hard to read.", "The labels are almost invisible in dark mode."],
    ["dark mode text unreadable"],
    ["In the dark mode I cannot read some texts, the colour is too dark."]),
  S("bug", "high", ["Error {code} when saving", "Error when saving"],
    ["I get error {code} every time I save in {product}.", "{product} shows {code} and won't save my changes.", "Saving anything fails with {code}."],
    ["error {code} on save"],
    ["Always it is showing error {code} when I try to save."]),
  S("bug", "medium", ["Notifications not arriving on {p}", "Notifications not arriving"],
    ["I stopped getting notifications from {product}.", "Notifications aren't showing up even though they're enabled."],
    ["no notifications anymore"],
    ["I am not getting any notification from {product} since {weekday}."]),

  S("feature", "low", ["Feature request: {feature}", "Feature request"],
    ["It would be great if {product} had {feature}.", "Any plans to add {feature}?", "Please consider adding {feature}, I'd use it every day."],
    ["pls add {feature}", "{feature} would be nice"],
    ["It will be very good if you can make {feature} in the app."]),
  S("feature", "low", ["Feature request: {integration} integration", "Feature request: new integration"],
    ["Could you add an integration with {integration}?", "We'd love to connect the app to {integration}.", "Is a {integration} integration on the roadmap?"],
    ["{integration} integration?"],
    ["Please make the connection with {integration}, our team is using it."]),
  S("feature", "low", ["Feature request: more seats on {plan} plan", "Feature request: more seats"],
    ["Can the {plan} plan allow more than {n} users?", "I'd like an option to add extra seats to our plan."],
    ["more seats please"],
    ["We need more users in the {plan} plan, is it possible to add?"]),
  S("feature", "low", "Feature request: customizable dashboard",
    ["It would be nice to rearrange the widgets on the dashboard.", "Suggestion: let us hide the dashboard widgets we don't use."],
    ["idea: movable dashboard widgets"],
    ["My suggestion is to let the user move the widgets of dashboard."]),

  S("privacy", "medium", "Requests deletion of personal data",
    ["Please delete my account and all my personal data under GDPR.", "I want all my data erased, the account is {email}.", "Under GDPR I'm asking you to delete everything you store about me."],
    ["delete all my data (GDPR)"],
    ["Please remove all my personal information from your system, I don't want you keep it."]),
  S("privacy", "urgent", "Unauthorized login to account",
    ["Someone logged into my account from {region} and it wasn't me.", "I got a login alert from a device I don't own, my account is compromised.", "There are sessions in my account I don't recognise and my settings were changed."],
    ["someone hacked my account", "account hacked!!"],
    ["Somebody is entering in my account from {region}, it is not me, please help fast."]),
  S("privacy", "low", "Requests export of personal data",
    ["Can I get a copy of all the personal data you have on me?", "I'd like to download all my data, the account is {email}."],
    ["copy of my data pls"],
    ["I want to receive all the data that you are having about me."]),
  S("privacy", "urgent", "Another customer's data visible",
    ["I can see another customer's orders and address in my account.", "{product} is showing me someone else's invoices and email."],
    ["I can see someone else's data"],
    ["In my account I am seeing the orders and address of other person."]),
  S("privacy", "high", "Reports phishing email impersonating company",
    ["I got an email pretending to be you asking for my password.", "Someone is sending phishing emails with your logo to {email}."],
    ["phishing email with your logo"],
    ["I receive an email like from your company but it is fake and asking my password."]),
  S("privacy", "medium", "Wants third-party data sharing stopped",
    ["Please stop sharing my data with advertising partners.", "How do I opt out of my data being shared with third parties?"],
    ["stop sharing my data"],
    ["I don't want that you share my data with other companies."]),

  S("outage", "urgent", ["Service down with {http}", "Service is down"],
    ["The whole site is down, every page returns {http}.", "Nothing loads, we're getting {http} everywhere.", "{product} and the website are both down for us."],
    ["site down", "everything is down", "{http} everywhere"],
    ["The website is not opening at all, it is showing {http}."]),
  S("outage", "urgent", "API requests failing for all users",
    ["All our API calls have been failing since this morning.", "Your API is timing out for every request.", "Every request to the API fails, none of our users can do anything."],
    ["API down?"],
    ["All the API calls are failing from morning, nothing is working."]),
  S("outage", "urgent", ["Outage in {region}", "Regional outage"],
    ["Users in {region} can't reach the service at all.", "The service is completely unreachable from {region} since an hour."],
    ["outage in {region}"],
    ["From {region} nobody can open the service since one hour."]),
  S("outage", "urgent", "Data sync stopped for all devices",
    ["Sync is dead for all of our devices, nothing has synced for {hours} hours.", "None of our devices have synced for hours, is sync down?"],
    ["sync down for everyone"],
    ["The synchronization is stopped in all the devices since {hours} hours."]),

  S("cancellation", "medium", ["Wants to cancel {plan} subscription", "Wants to cancel subscription"],
    ["Please cancel my {plan} subscription.", "I want to cancel my subscription, how do I do it?", "I'd like to stop my plan at the end of this month."],
    ["cancel my subscription", "cancel pls"],
    ["I want to finish my subscription, please cancel it."]),
  S("cancellation", "medium", "Cannot find cancel option",
    ["I can't find the cancel button anywhere in the settings.", "Where is the option to cancel? The settings page doesn't have it."],
    ["where's the cancel button?"],
    ["I am searching the button for cancel but I cannot find it anywhere."]),
  S("cancellation", "low", ["Wants to downgrade from {plan}", "Wants to downgrade plan"],
    ["Can I downgrade from {plan} to the free plan instead of cancelling?", "I'd like to move to a cheaper plan."],
    ["downgrade my plan?"],
    ["Is it possible to change to more cheap plan?"]),
  S("cancellation", "medium", "Wants to close account",
    ["Please close my account, I don't use the service anymore.", "I'm switching to another tool, close my account please."],
    ["close my account"],
    ["I am not using anymore, please close my account."]),
];

// Tickets in other languages (summary and labels stay English).
const FOREIGN = [
  ["login", "medium", "Cannot log in", ["No puedo iniciar sesión en mi cuenta.", "Je n'arrive pas à me connecter à mon compte.", "Ich kann mich nicht in mein Konto einloggen.", "Não consigo entrar na minha conta."]],
  ["login", "medium", "Password reset email not arriving", ["No me llega el correo para restablecer la contraseña.", "Je ne reçois pas l'e-mail de réinitialisation du mot de passe.", "Die E-Mail zum Zurücksetzen des Passworts kommt nicht an."]],
  ["billing", "high", "Charged twice for one order", ["Me cobraron dos veces el mismo pedido {order}.", "J'ai été débité deux fois pour la commande {order}.", "Mir wurde die Bestellung {order} doppelt berechnet.", "Fui cobrado duas vezes pelo pedido {order}."]],
  ["billing", "medium", "Refund not received", ["Todavía no he recibido mi reembolso de {amount}.", "Je n'ai toujours pas reçu mon remboursement.", "Meine Rückerstattung ist noch nicht angekommen."]],
  ["shipping", "medium", "Order is late", ["Mi pedido {order} todavía no ha llegado.", "Ma commande {order} n'est toujours pas arrivée.", "Meine Bestellung {order} ist immer noch nicht da.", "Meu pedido {order} ainda não chegou."]],
  ["shipping", "medium", "Order arrived damaged", ["El paquete llegó roto.", "Le colis est arrivé abîmé.", "Das Paket kam beschädigt an."]],
  ["bug", "high", "App crashes", ["La aplicación se cierra cada vez que la abro.", "L'application plante à chaque ouverture.", "Die App stürzt jedes Mal ab, wenn ich sie öffne.", "O aplicativo fecha sozinho toda vez que eu abro."]],
  ["bug", "medium", "Save button does nothing", ["El botón de guardar no hace nada.", "Le bouton enregistrer ne fonctionne pas.", "Der Speichern-Knopf macht nichts."]],
  ["feature", "low", "Feature request: dark mode", ["¿Podrían añadir un modo oscuro?", "Ce serait bien d'avoir un mode sombre.", "Bitte fügt einen Dunkelmodus hinzu.", "Vocês poderiam adicionar um modo escuro?"]],
  ["feature", "low", "Feature request: calendar integration", ["Me gustaría una integración con Google Calendar.", "Une intégration avec Google Calendar serait utile.", "Eine Integration mit Google Calendar wäre toll."]],
  ["privacy", "medium", "Requests deletion of personal data", ["Quiero que borren todos mis datos personales.", "Je veux que vous supprimiez toutes mes données personnelles.", "Bitte löschen Sie alle meine persönlichen Daten.", "Quero que apaguem todos os meus dados pessoais."]],
  ["privacy", "urgent", "Unauthorized login to account", ["Alguien entró en mi cuenta y no fui yo.", "Quelqu'un s'est connecté à mon compte, ce n'était pas moi.", "Jemand hat sich in mein Konto eingeloggt, das war nicht ich."]],
  ["outage", "urgent", "Service is down", ["El servicio está caído, no carga nada.", "Le service est en panne, rien ne charge.", "Der Dienst ist komplett ausgefallen.", "O serviço está fora do ar, nada carrega."]],
  ["outage", "urgent", "API requests failing for all users", ["La API falla para todas las peticiones.", "L'API ne répond plus pour aucune requête.", "Die API antwortet auf keine Anfrage mehr."]],
  ["cancellation", "medium", "Wants to cancel subscription", ["Quiero cancelar mi suscripción.", "Je souhaite résilier mon abonnement.", "Ich möchte mein Abo kündigen.", "Quero cancelar minha assinatura."]],
  ["cancellation", "medium", "Wants to close account", ["Por favor, cierren mi cuenta.", "Merci de fermer mon compte.", "Bitte schließen Sie mein Konto."]],
];

const OPEN = {
  neutral: ["", "", "", "Hi,", "Hello,", "Hey,", "Hi team,", "Hello support,"],
  polite: ["Good morning,", "Dear support team,", "Hello, I hope you are well.", "Hi there, sorry to bother you.", "Hello and thanks for your time."],
  angry: ["Seriously?!", "This is unacceptable.", "I'm so done with this.", "WHAT IS GOING ON?", "Third time writing about this."],
};
const CLOSE = {
  neutral: ["", "", "", "Thanks.", "Can someone look into this?", "Cheers.", "Any update?"],
  polite: ["Thank you very much for your help.", "Thanks in advance, have a nice day.", "I really appreciate it.", "Kind regards, {first}", "Many thanks!"],
  angry: ["Fix it NOW.", "Worst service ever.", "I want an answer today!!", "This is ridiculous.", "Sort it out or I'm leaving."],
};
const BACKSTORY = [
  "I've been a customer for {n} years and never had problems before.",
  "I run a small bakery and we use this every day.",
  "I already talked to someone on chat but they couldn't help.",
  "I'm writing from my phone because my laptop is at the office.",
  "My colleague had the same thing last month and it went away on its own, but not this time.",
  "I tried on {product} and on the website.",
  "I restarted everything twice.",
  "We moved offices last week, not sure if that matters.",
  "Sorry for the long message, I just want to explain everything.",
  "I checked your status page and it says everything is fine.",
];
const IMPACT = ["Our whole team is blocked.", "This is costing us sales.", "We have a client demo tomorrow.", "About 50 users are affected.", "I need this fixed today for a deadline."];
const IMPACT_CATEGORIES = new Set(["login", "bug", "shipping"]);
const ALSO = ["Also, {x}", "One more thing: {x}", "And btw {x}", "Unrelated, but {x}", "P.S. {x}"];

const slots = (t) => new Set([...t.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));

/** The first summary whose slots the ticket text all used. */
function summaryFor(scn, used, v) {
  const s = scn.sum.find((t) => [...slots(t)].every((k) => used.has(k))) ?? scn.sum.at(-1);
  const out = fill(s, v);
  return out.split(/\s+/).length <= 12 ? out : fill(scn.sum.at(-1), v);
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

const join = (parts) => parts.filter(Boolean).join(" ");

/** One ticket and its labels. */
function ticket(r, byCat, cat) {
  const v = vars(r);
  const kind = r.pick(["plain", "plain", "plain", "short", "long", "multi", "nonnative", "foreign"]);
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
  else if (kind === "nonnative") core = use(r.pick(scn.nonnative));
  else core = use(r.pick(scn.cores));
  const tone = r.pick(["neutral", "neutral", "polite", "angry"]);
  let body = [core];
  if (kind === "long") {
    body = r.shuffle([...r.shuffle([...BACKSTORY]).slice(0, r.int(2, 4)).map(use), core]);
    body.push(use(r.pick(scn.cores.filter((c) => c !== core)) ?? ""));
  }
  if (kind !== "short" && IMPACT_CATEGORIES.has(cat) && r.chance(0.25)) {
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
  if (tone === "angry" && r.chance(0.4)) text = text.replace(/\.$/, "!!!");
  if (r.chance(kind === "short" ? 0.5 : 0.25)) text = typos(r, text);
  return { text, labels: { category: cat, priority, summary: summaryFor(scn, used, v) } };
}

/** The training rows, as JSONL lines. */
export function trainingRows() {
  const r = rng(SEED);
  const byCat = {};
  for (const s of SCENARIOS) (byCat[s.cat] ??= []).push(s);
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
