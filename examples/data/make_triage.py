#!/usr/bin/env python3
"""Generate the synthetic support-ticket triage dataset (chatml JSONL).

Writes, next to this script:
  triage.jsonl       320 training rows
  triage-eval.jsonl   16 held-out rows (no ticket appears in both files)

Each row: {"messages":[user (ticket), assistant (triage JSON)]}.
The assistant content is compact JSON with keys in this fixed order:
  {"category":...,"priority":...,"team":...,"summary":...}

Deterministic: Python 3.11 stdlib only, fixed seed. Rerunning reproduces the
files byte for byte.  Usage: python3 examples/data/make_triage.py
"""

from __future__ import annotations

import collections
import json
import pathlib
import random
import re

SEED = 20250101
TRAIN_PER_CATEGORY = 40  # 8 categories x 40 = 320
EVAL_PER_CATEGORY = 2  # 8 categories x 2 = 16

SYSTEM = (
    "Triage the support ticket. Answer with JSON only: "
    '{"category", "priority", "team", "summary"}.'
)

TEAM = {
    "login": "identity",
    "billing": "billing",
    "shipping": "logistics",
    "bug": "engineering",
    "feature": "product",
    "privacy": "trust-safety",
    "outage": "sre",
    "cancellation": "retention",
}

PRIORITIES = ["low", "medium", "high", "urgent"]

# --------------------------------------------------------------------------
# Fillers
# --------------------------------------------------------------------------

PRODUCTS = [
    "the mobile app", "the iOS app", "the Android app", "the web dashboard",
    "the desktop app", "the browser extension", "the Mac app", "the Windows app",
]
# Short product names for summaries, keyed by the ticket wording.
PRODUCT_SHORT = {
    "the mobile app": "mobile app", "the iOS app": "iOS app",
    "the Android app": "Android app", "the web dashboard": "web dashboard",
    "the desktop app": "desktop app", "the browser extension": "browser extension",
    "the Mac app": "Mac app", "the Windows app": "Windows app",
}
FIRST = ["anna", "ben", "carla", "dev", "emma", "farid", "grace", "hiro", "ines",
         "jonas", "kate", "liam", "maya", "noah", "olga", "priya", "raj", "sara",
         "tom", "yuki"]
LAST = ["smith", "ng", "kowalski", "garcia", "okafor", "berg", "tanaka", "rossi",
        "patel", "dubois"]
DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "acme.io",
           "northwind.com", "fastmail.com", "example.org"]
PLANS = ["Pro", "Team", "Business", "Starter", "Premium"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
CARRIERS = ["UPS", "DHL", "FedEx", "USPS", "the courier"]
ACTIONS = [
    "opening a project", "uploading a photo", "exporting a report",
    "switching accounts", "opening settings", "attaching a file",
    "saving a draft", "rotating the screen", "starting a sync",
]
ITEMS = ["headphones", "a phone case", "the charger", "a blue hoodie",
         "the starter kit", "a keyboard", "running shoes", "a desk lamp"]
WRONG_ITEMS = ["a red one", "the wrong size", "a completely different product",
               "only half the order", "someone else's order"]
INTEGRATIONS = ["Slack", "Google Calendar", "Zapier", "Notion", "Salesforce",
                "Jira", "Outlook", "HubSpot"]
FEATURES = [
    ("a dark mode", "dark mode"),
    ("export to CSV", "CSV export"),
    ("keyboard shortcuts", "keyboard shortcuts"),
    ("bulk editing", "bulk editing"),
    ("recurring tasks", "recurring tasks"),
    ("offline mode", "offline mode"),
    ("custom fields", "custom fields"),
    ("a public API for reports", "public reports API"),
]
CODES_GENERIC = ["E1042", "ERR_UNKNOWN", "E-500", "0x80070005", "ERR_SAVE_FAILED",
                 "E2201", "ERR_NULL_REF", "E-417"]
CODES_AUTH = ["AUTH_401", "SSO_403", "ERR_SAML_RESPONSE", "E-AUTH-12",
              "invalid_grant", "ERR_TOKEN_EXPIRED"]
CODES_HTTP = ["502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout",
              "500 Internal Server Error"]

OPENERS = ["", "", "", "Hi,", "Hello,", "Hey,", "Hi team,", "Hello support,",
           "Good morning,", "Hi there,"]
CLOSERS = ["", "", "", "", "Thanks!", "Thanks in advance.", "Please help.",
           "Any update would be appreciated.", "This is really frustrating.",
           "Can someone look into this?", "Cheers."]
# Impact clauses: when present they raise the priority by exactly one level.
IMPACT = ["Our whole team is blocked.", "This is costing us sales.",
          "We have a client demo tomorrow.", "About 50 users are affected.",
          "I need this fixed today for a deadline."]
IMPACT_CATEGORIES = {"login", "bug", "shipping"}


def email(r: random.Random) -> str:
    sep = r.choice([".", "_", ""])
    return f"{r.choice(FIRST)}{sep}{r.choice(LAST)}@{r.choice(DOMAINS)}"


def order(r: random.Random) -> str:
    return r.choice(["#", "#", ""]) + r.choice(["A", "B", "", ""]) + str(
        r.randint(10000, 99999))


def days(r: random.Random) -> int:
    return r.randint(3, 21)


def fillers(r: random.Random) -> dict:
    prod = r.choice(PRODUCTS)
    feat, feat_short = r.choice(FEATURES)
    return {
        "product": prod,
        "p": PRODUCT_SHORT[prod],
        "email": email(r),
        "order": order(r),
        "days": days(r),
        "hours": r.randint(2, 9),
        "amount": f"${r.choice([9, 12, 19, 29, 49, 99, 149])}.{r.choice(['00', '99'])}",
        "plan": r.choice(PLANS),
        "weekday": r.choice(WEEKDAYS),
        "carrier": r.choice(CARRIERS),
        "action": r.choice(ACTIONS),
        "item": r.choice(ITEMS),
        "wrong": r.choice(WRONG_ITEMS),
        "integration": r.choice(INTEGRATIONS),
        "feature": feat,
        "feat": feat_short,
        "code": r.choice(CODES_GENERIC),
        "authcode": r.choice(CODES_AUTH),
        "http": r.choice(CODES_HTTP),
        "n": r.choice([2, 3, 4, 5]),
        "region": r.choice(["EU", "US", "Asia", "UK", "Australia"]),
    }


# --------------------------------------------------------------------------
# Scenarios: (priority, summary template(s), [ticket core templates], [details])
# A ticket is: [opener] core [detail] [impact | closer]  -> 1-3 sentences.
# A summary given as a list is [specific, generic]: the specific one is used
# only when every field it names also appears in the ticket, so the summary
# never mentions something the ticket does not say.
# --------------------------------------------------------------------------

S = collections.namedtuple("S", "priority summary cores details")

SCENARIOS: dict[str, list[S]] = {
    "login": [
        S("medium", "Password reset email not arriving for {email}", [
            "I asked for a password reset for {email} but the email never came.",
            "The password reset link isn't arriving at {email}, checked spam too.",
            "No reset email shows up when I hit 'forgot password' for {email}.",
        ], ["I tried {n} times already.", "It has been about {hours} hours."]),
        S("high", "Locked out after losing 2FA device", [
            "I got a new phone and can't get my 2FA codes anymore, so I'm locked out.",
            "Lost my phone with the authenticator app and now I can't log in to {product}.",
            "My 2FA device was stolen and I have no backup codes, I can't sign in.",
        ], ["My account email is {email}.", "I still have access to {email}."]),
        S("medium", "Account locked after failed login attempts", [
            "My account got locked after a few wrong passwords and won't unlock.",
            "It says my account is locked for too many attempts on {product}.",
            "After mistyping my password {n} times the account is locked.",
        ], ["The account is {email}.", "I waited {hours} hours and it's still locked."]),
        S("high", ["SSO login fails with {authcode} on {p}", "SSO login fails with {authcode}"], [
            "Single sign-on fails with error {authcode} when I log in to {product}.",
            "SSO login stopped working for me, it shows {authcode}.",
            "Logging in through our company SSO gives {authcode} every time.",
        ], ["It worked fine until {weekday}.", "Normal password login is disabled for us."]),
        S("medium", "Correct password rejected on {p}", [
            "{product} keeps saying my password is wrong even though it's correct.",
            "I'm typing the right password but {product} says it's invalid.",
            "My password works on the website but {product} rejects it.",
        ], ["I even reset it and it still fails.", "My login is {email}."]),
        S("medium", "Login redirect loop on {p}", [
            "After I sign in, {product} sends me straight back to the login page.",
            "I'm stuck in a login loop on {product}, it never gets past sign in.",
        ], ["Clearing cookies didn't help.", "This started on {weekday}."]),
        S("low", "Wants to change account login email", [
            "How do I change the email I use to log in? I want to switch to {email}.",
            "Can you update my login email to {email}? I'm leaving my old job.",
        ], ["No rush on this.", "The old address still works for now."]),
    ],
    "billing": [
        S("high", "Charged twice for order {order}", [
            "I was charged twice for order {order}, {amount} each time.",
            "My card shows two payments of {amount} for the same order {order}.",
            "You billed me double for {order}, please refund one of the charges.",
        ], ["Both charges are on my statement.", "My email is {email}."]),
        S("medium", "Refund not received after {days} days", [
            "I was promised a refund {days} days ago and still haven't got it.",
            "Where is my refund of {amount}? It's been {days} days.",
            "The refund for order {order} hasn't reached my account after {days} days.",
        ], ["Support said 5 business days.", "My bank says nothing is pending."]),
        S("low", "Requests invoice copy for {plan} plan", [
            "Can I get an invoice for my {plan} plan payment? I need it for accounting.",
            "Please send a copy of last month's invoice for the {plan} plan to {email}.",
            "I need a proper invoice with our company VAT number for the {plan} plan.",
        ], ["No rush.", "Our finance team asked for it."]),
        S("medium", "Card declined when upgrading to {plan}", [
            "My card keeps getting declined when I try to upgrade to {plan}.",
            "Payment fails with {code} when upgrading to the {plan} plan.",
        ], ["The card works everywhere else.", "I tried {n} different cards."]),
        S("high", "Charged {amount} after cancelling subscription", [
            "I cancelled my subscription but you still charged me {amount}.",
            "Why was I billed {amount} this month? I cancelled weeks ago.",
            "I got charged {amount} even though my {plan} plan was cancelled.",
        ], ["I have the cancellation email.", "My account is {email}."]),
        S("medium", "Charged more than advertised {plan} price", [
            "The {plan} plan was advertised cheaper but I was charged {amount}.",
            "I was billed {amount} for {plan}, which is more than the pricing page says.",
        ], ["Please explain the difference.", "I'd like the extra refunded."]),
    ],
    "shipping": [
        S("medium", "Order {order} is {days} days late", [
            "My order {order} was supposed to arrive {days} days ago and still isn't here.",
            "Order {order} is {days} days late, where is it?",
            "I ordered {item} ({order}) and it's {days} days past the delivery date.",
        ], ["Nobody has contacted me.", "I paid for express shipping."]),
        S("medium", "Tracking stuck for order {order}", [
            "The tracking for {order} hasn't updated in {days} days.",
            "{carrier} tracking for order {order} is stuck on 'in transit'.",
        ], ["Is the package lost?", "The carrier told me to ask you."]),
        S("medium", "Received wrong item for order {order}", [
            "I ordered {item} but got {wrong}, order {order}.",
            "Order {order} arrived today but it's {wrong}.",
        ], ["How do I return it?", "I'd like the right item sent."]),
        S("medium", "Order {order} arrived damaged", [
            "My package for order {order} arrived crushed and {item} is broken.",
            "{item} from order {order} came damaged.",
        ], ["I have photos of the box.", "I want a replacement."]),
        S("high", "Order {order} marked delivered but not received", [
            "Tracking says order {order} was delivered but nothing came.",
            "{carrier} marked {order} as delivered yesterday, I never got it.",
            "My order {order} shows delivered but it's not at my door or with neighbors.",
        ], ["It was {item}.", "I've checked with the building office."]),
        S("low", "Wants to change delivery address for {order}", [
            "Can I change the delivery address for order {order}? I'm moving.",
            "Please update the shipping address on {order} to my work address.",
        ], ["It hasn't shipped yet I think.", "Thanks for the help."]),
    ],
    "bug": [
        S("high", "{p} crashes when {action}", [
            "{product} crashes every time I try {action}.",
            "Whenever I'm {action}, {product} just closes.",
            "{product} freezes and then crashes when {action}.",
        ], ["I'm on the latest version.", "Reinstalling didn't help."]),
        S("medium", "Save button does nothing in {p}", [
            "The save button in {product} does nothing when I click it.",
            "Clicking save in {product} has no effect, my edits are not saved.",
        ], ["No error is shown.", "It used to work last week."]),
        S("medium", "Export produces empty file in {p}", [
            "Exporting from {product} gives me an empty file.",
            "When I export my report in {product}, the file has no data.",
        ], ["The data is visible on screen.", "I tried PDF and CSV."]),
        S("low", "Text unreadable in dark mode on {p}", [
            "In dark mode some text in {product} is black on dark gray and hard to read.",
            "The labels in {product} are almost invisible in dark mode.",
        ], ["Light mode looks fine.", "Just a small visual thing."]),
        S("high", "Error {code} when saving in {p}", [
            "I get error {code} every time I save in {product}.",
            "{product} shows {code} and won't save my changes.",
            "Saving anything in {product} fails with {code}.",
        ], ["I can't finish my work.", "It started after the last update."]),
        S("medium", "Notifications not arriving on {p}", [
            "I stopped getting notifications from {product}.",
            "{product} notifications aren't showing up even though they're enabled.",
        ], ["It started on {weekday}.", "I checked the phone settings."]),
    ],
    "feature": [
        S("low", ["Feature request: {feat} in {p}", "Feature request: {feat}"], [
            "It would be great if {product} had {feature}.",
            "Any plans to add {feature} to {product}?",
            "Please consider adding {feature}, I'd use it every day.",
        ], ["Other tools have it.", "Love the product otherwise."]),
        S("low", "Feature request: {integration} integration", [
            "Could you add an integration with {integration}?",
            "We'd love to connect the app to {integration}.",
            "Is a {integration} integration on the roadmap?",
        ], ["Our team uses {integration} daily.", "It would save us a lot of time."]),
        S("low", "Feature request: more seats on {plan} plan", [
            "Can the {plan} plan allow more than {n} users?",
            "I'd like an option to add extra seats to the {plan} plan.",
        ], ["We're growing fast.", "Happy to pay a bit more."]),
        S("low", "Feature request: customizable dashboard widgets", [
            "It would be nice to rearrange the widgets on the dashboard.",
            "Suggestion: let us hide the dashboard widgets we don't use.",
        ], ["The current layout is cluttered.", "Just an idea."]),
    ],
    "privacy": [
        S("medium", "Requests deletion of all personal data", [
            "Please delete my account and all my personal data under GDPR.",
            "I want all my data erased, the account is {email}.",
            "Under GDPR I'm asking you to delete everything you store about me.",
        ], ["Please confirm when it's done.", "I don't want any backups kept."]),
        S("urgent", "Unauthorized login to account from unknown location", [
            "Someone logged into my account from {region} and it wasn't me.",
            "I got a login alert from a device I don't own, my account {email} is compromised.",
            "There are sessions in my account I don't recognize and my settings were changed.",
        ], ["I changed my password already.", "Please lock it down now."]),
        S("low", "Requests export of personal data", [
            "Can I get a copy of all the personal data you have on me?",
            "I'd like to download all my data, the account is {email}.",
        ], ["A zip file is fine.", "No rush."]),
        S("urgent", "Another customer's data visible in account", [
            "I can see another customer's orders and address in my account.",
            "{product} is showing me someone else's invoices and email.",
        ], ["That's a serious privacy leak.", "I haven't touched anything."]),
        S("high", "Reports phishing email impersonating the company", [
            "I got an email pretending to be you asking for my password.",
            "Someone is sending phishing emails with your logo to {email}.",
        ], ["The link goes to a fake login page.", "I didn't click it."]),
        S("medium", "Wants data sharing with third parties stopped", [
            "Please stop sharing my data with advertising partners.",
            "How do I opt out of my data being shared with third parties?",
        ], ["I never agreed to that.", "My account is {email}."]),
    ],
    "outage": [
        S("urgent", "Service down with {http}", [
            "The whole site is down, we get {http} on every page.",
            "Nothing loads, {product} just shows {http}.",
            "Your service has been down for {hours} hours, all we see is {http}.",
        ], ["Everyone on our team sees it.", "Your status page says all green."]),
        S("urgent", "API requests timing out for all users", [
            "All our API calls are timing out since this morning.",
            "Your API stopped responding, every request times out.",
        ], ["Our production app depends on it.", "Nothing changed on our side."]),
        S("high", "{p} very slow to load", [
            "{product} takes over a minute to load anything today.",
            "Everything in {product} is extremely slow since {weekday}.",
            "Pages in {product} take forever to open.",
        ], ["Our internet is fine.", "Other sites are fast."]),
        S("high", "Sync delayed by hours in {region}", [
            "Sync is running {hours} hours behind for our {region} workspace.",
            "Changes take hours to sync between devices for us in {region}.",
        ], ["People are working on stale data.", "It was instant before."]),
        S("urgent", "Data lost after service outage", [
            "After yesterday's outage a week of our data is gone.",
            "The outage wiped our recent projects, they're just missing.",
        ], ["We need it restored.", "We have no other copy."]),
    ],
    "cancellation": [
        S("medium", "Wants to cancel {plan} subscription", [
            "Please cancel my {plan} subscription.",
            "I'd like to cancel my {plan} plan, account {email}.",
            "How do I cancel? I want to stop my {plan} subscription.",
        ], ["I don't use it anymore.", "Thanks for everything."]),
        S("medium", "Cancelling because price is too high", [
            "I'm cancelling because it's too expensive for me now.",
            "The price went up to {amount} so I want to cancel.",
        ], ["Maybe I'll come back later.", "Please confirm the cancellation."]),
        S("high", ["Cancel {plan} plan before renewal tomorrow", "Cancel subscription before renewal tomorrow"], [
            "My {plan} plan renews tomorrow, please cancel it before I'm charged.",
            "Cancel my subscription today please, it renews tomorrow for {amount}.",
        ], ["I can't find the cancel button.", "My account is {email}."]),
        S("low", "Wants to downgrade from {plan} plan", [
            "Can I downgrade from {plan} to the free plan?",
            "I want to switch from {plan} to a cheaper plan.",
        ], ["We don't need all the features.", "No rush."]),
        S("low", "Wants to pause subscription for {n} months", [
            "Can I pause my subscription for {n} months instead of cancelling?",
            "I'm traveling, is it possible to pause my plan for {n} months?",
        ], ["I'll be back after that.", "Thanks."]),
    ],
}

# --------------------------------------------------------------------------
# Noise: typos and informal spelling (applied to the ticket only).
# --------------------------------------------------------------------------

INFORMAL = [(r"\bplease\b", "pls"), (r"\bPlease\b", "Pls"), (r"\byou\b", "u"),
            (r"\bthanks\b", "thx"), (r"\bThanks\b", "Thx")]


def add_noise(r: random.Random, text: str) -> str:
    kind = r.random()
    if kind < 0.10:
        # swap two adjacent letters in one plain word
        words = text.split(" ")
        idx = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 4]
        if idx:
            i = r.choice(idx)
            w = words[i]
            j = r.randint(1, len(w) - 3)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            text = " ".join(words)
    elif kind < 0.16:
        text = text.lower()
    elif kind < 0.21:
        text = text.replace("'", "")
    elif kind < 0.26:
        for pat, rep in INFORMAL:
            text = re.sub(pat, rep, text)
    elif kind < 0.29:
        text = text.rstrip(".") + "!!"
    return text


FIELD = re.compile(r"{(\w+)}")
# Summary fields that paraphrase a ticket field under another name.
ALIAS = {"p": "product", "feat": "feature"}


def bump(priority: str) -> str:
    return PRIORITIES[min(PRIORITIES.index(priority) + 1, len(PRIORITIES) - 1)]


def make_ticket(r: random.Random, category: str) -> tuple[str, dict]:
    sc = r.choice(SCENARIOS[category])
    f = fillers(r)
    core_t = r.choice(sc.cores)
    core = core_t.format(**f)
    opener = r.choice(OPENERS)
    first = core.split(" ", 1)[0]
    if opener and first[1:].islower() and first not in {"I'm", "I'd", "I've"}:
        core = core[0].lower() + core[1:]  # "Hi, my order ..." not "Hi, My order"
    else:
        core = core[0].upper() + core[1:]
    parts = [opener, core]
    used = set(FIELD.findall(core_t))
    n_extra = r.choice([0, 1, 1, 2])  # at most 3 sentences in total
    priority = sc.priority
    if n_extra >= 1:
        detail_t = r.choice(sc.details)
        used |= set(FIELD.findall(detail_t))
        parts.append(detail_t.format(**f))
    if n_extra == 2:
        if category in IMPACT_CATEGORIES and r.random() < 0.5:
            parts.append(r.choice(IMPACT))
            priority = bump(priority)
        else:
            parts.append(r.choice(CLOSERS))
    ticket = " ".join(p for p in parts if p)
    ticket = add_noise(r, ticket)
    options = [sc.summary] if isinstance(sc.summary, str) else sc.summary
    fits = [t for t in options
            if {ALIAS.get(k, k) for k in FIELD.findall(t)} <= used]
    assert fits, f"summary names a field the ticket lacks: {options} / {core_t}"
    summary_t = fits[0]
    summary = summary_t.format(**f)
    summary = summary[0].upper() + summary[1:]
    triage = {
        "category": category,
        "priority": priority,
        "team": TEAM[category],
        "summary": summary,
    }
    return ticket, triage


def row(ticket: str, triage: dict) -> dict:
    # No system turn: the demo (the upstream mid-run-eval recipe) asks with a
    # bare ticket as the only user message, so the model must learn that a
    # bare ticket gets a triage answer.
    return {"messages": [
        {"role": "user", "content": ticket},
        {"role": "assistant",
         "content": json.dumps(triage, ensure_ascii=False, separators=(",", ":"))},
    ]}


def main() -> None:
    r = random.Random(SEED)
    out_dir = pathlib.Path(__file__).resolve().parent
    seen: set[str] = set()
    train: list[dict] = []
    evals: list[dict] = []
    need = TRAIN_PER_CATEGORY + EVAL_PER_CATEGORY
    for category in TEAM:
        rows: list[dict] = []
        while len(rows) < need:
            ticket, triage = make_ticket(r, category)
            if ticket in seen:
                continue
            rw = row(ticket, triage)
            # keep every row modest but not trivial: 250-600 chars of content,
            # counted with the instruction the task implies (SYSTEM), so the
            # selection of tickets is the one made when rows carried it
            if not 250 <= len(SYSTEM) + sum(len(m["content"]) for m in rw["messages"]) <= 600:
                continue
            seen.add(ticket)
            rows.append(rw)
        evals.extend(rows[:EVAL_PER_CATEGORY])
        train.extend(rows[EVAL_PER_CATEGORY:])
    r.shuffle(train)
    r.shuffle(evals)

    # ---- checks -----------------------------------------------------------
    for rows in (train, evals):
        for rw in rows:
            msgs = rw["messages"]
            assert [m["role"] for m in msgs] == ["user", "assistant"]
            t = json.loads(msgs[1]["content"])
            assert list(t) == ["category", "priority", "team", "summary"], t
            assert t["priority"] in PRIORITIES and t["team"] == TEAM[t["category"]]
            assert len(t["summary"].split()) <= 12, t["summary"]
            total = len(SYSTEM) + sum(len(m["content"]) for m in msgs)
            assert 250 <= total <= 600, (total, msgs[0]["content"])
    train_users = {rw["messages"][0]["content"] for rw in train}
    eval_users = {rw["messages"][0]["content"] for rw in evals}
    assert len(train_users) == len(train) == 320
    assert len(eval_users) == len(evals) == 16
    assert not train_users & eval_users

    for name, rows in (("triage.jsonl", train), ("triage-eval.jsonl", evals)):
        with open(out_dir / name, "w", encoding="utf-8", newline="\n") as fh:
            for rw in rows:
                fh.write(json.dumps(rw, ensure_ascii=False, separators=(",", ":")) + "\n")

    # ---- report -----------------------------------------------------------
    lens = [sum(len(m["content"]) for m in rw["messages"]) for rw in train]
    print(f"wrote {len(train)} train rows, {len(evals)} eval rows to {out_dir}")
    print(f"row content chars: min {min(lens)}, mean {sum(lens) / len(lens):.0f}, "
          f"max {max(lens)} (~{min(lens) // 4}-{max(lens) // 4} tokens)")
    for label, key in (("category", "category"), ("priority", "priority")):
        hist = collections.Counter(
            json.loads(rw["messages"][1]["content"])[key] for rw in train)
        print(f"{label} histogram (train):")
        for k, v in sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {k:<13} {v:>4}  {'#' * (v // 2)}")


if __name__ == "__main__":
    main()
