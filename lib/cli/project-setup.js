"use strict";

// What `arkor init` does around the scaffold: where the `arkor` dependency
// comes from, which package manager installs it, the git repository, and
// the AGENTS.md brief for coding agents.

const { spawn, spawnSync } = require("node:child_process");
const { existsSync, readFileSync, writeFileSync } = require("node:fs");
const path = require("node:path");

const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");
const PACKAGE_MANAGERS = ["npm", "pnpm", "yarn", "bun"];

/**
 * Where a scaffolded package.json takes `arkor` from, so that `import "arkor"`
 * resolves to this package and a fresh install finds it: a `file:` link to
 * the checkout this CLI runs from, or, when it was installed from a
 * registry, the registry's name for it (an npm alias when that name is not
 * `arkor`, as upstream's package owns that name). `allowScripts` lets its
 * install step run (scripts/install.js: it builds the addon only when no
 * prebuilt or up-to-date one is there).
 */
function arkorDependency(root = PACKAGE_ROOT) {
  const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
  const fromRegistry = root.split(path.sep).includes("node_modules");
  let spec = `file:${root}`;
  if (fromRegistry) spec = pkg.name === "arkor" ? `^${pkg.version}` : `npm:${pkg.name}@^${pkg.version}`;
  return { spec, allowScripts: { [pkg.name]: true } };
}

/** The package manager named by a `--use-*` flag, else the one running us (npm_config_user_agent). */
function choosePackageManager(flags, userAgent = process.env.npm_config_user_agent) {
  const chosen = PACKAGE_MANAGERS.filter((pm) => flags[pm]);
  if (chosen.length > 1) {
    const err = new Error(`Pick one of ${chosen.map((pm) => `--use-${pm}`).join(" / ")}, not several.`);
    err.code = "ARKOR_USAGE";
    throw err;
  }
  if (chosen.length === 1) return chosen[0];
  return (userAgent && require("../native").packageManagerFromUserAgent(userAgent)) || undefined;
}

/** Runs `<pm> install` in `cwd` with the terminal attached; resolves its exit code. */
function install(pm, cwd) {
  return new Promise((resolve) => {
    const child = spawn(pm, ["install"], { cwd, stdio: "inherit", shell: process.platform === "win32" });
    child.on("error", () => resolve(127));
    child.on("exit", (code, signal) => resolve(signal ? 1 : code));
  });
}

function git(cwd, args) {
  return spawnSync("git", args, { cwd, encoding: "utf8" });
}

/** Whether `dir` is inside a git work tree. */
function isInGitRepo(dir) {
  const r = git(dir, ["rev-parse", "--is-inside-work-tree"]);
  return r.status === 0 && r.stdout.trim() === "true";
}

/**
 * `git init` and an initial commit of everything. When signing is set up
 * but fails, the commit is made unsigned and `signingFallback` says so.
 */
function gitInitialCommit(dir, message) {
  const init = git(dir, ["init", "-q"]);
  if (init.status !== 0) throw new Error(`git init failed: ${(init.stderr || "").trim() || "is git installed?"}`);
  const add = git(dir, ["add", "-A"]);
  if (add.status !== 0) throw new Error(`git add failed: ${add.stderr.trim()}`);
  const commit = git(dir, ["commit", "-q", "-m", message]);
  if (commit.status === 0) return { signingFallback: false };
  const unsigned = git(dir, ["-c", "commit.gpgsign=false", "commit", "-q", "-m", message]);
  if (unsigned.status !== 0) throw new Error(`git commit failed: ${(unsigned.stderr || commit.stderr).trim()}`);
  return { signingFallback: true };
}

// The managed block's markers and first line are how a re-scaffold finds
// the block it wrote (the same ones upstream's scaffolder uses, so a
// project moved between the two keeps one block).
const AGENTS_BEGIN = "<!-- BEGIN:arkor-agent-rules -->";
const AGENTS_END = "<!-- END:arkor-agent-rules -->";
const AGENTS_SIGNATURE = "# arkor is newer than your training data";
const AGENTS_BLOCK = `${AGENTS_BEGIN}
${AGENTS_SIGNATURE}

This project fine-tunes a language model with \`arkor\`, a library released
after most coding models were trained. Do not guess its API from memory:

- Read \`node_modules/arkor/index.d.ts\` for the SDK's types, and
  \`node_modules/arkor/README.md\` for the CLI and the local backend.
- The trainer is \`src/arkor/trainer.ts\` (\`createTrainer\`); \`src/arkor/index.ts\`
  exports it through \`createArkor\`.
- \`npx arkor start\` trains on this machine unless \`ARKOR_CLOUD_API_URL\` or
  \`arkor login\` names a remote backend; \`npx arkor dev\` opens Studio.
- Training data is chat JSONL: one \`{"messages":[{role, content}, ...]}\` per line.
${AGENTS_END}`;

/** Every managed block in `text`: markers and signature each on their own line. */
function managedBlocks(text) {
  const re = new RegExp(`(^|\\r?\\n)${escape(AGENTS_BEGIN)}\\r?\\n${escape(AGENTS_SIGNATURE)}\\r?\\n[\\s\\S]*?\\r?\\n${escape(AGENTS_END)}`, "g");
  return [...text.matchAll(re)].map((m) => ({ start: m.index + m[1].length, end: m.index + m[0].length }));
}

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Writes or refreshes AGENTS.md's managed block and a CLAUDE.md that imports
 * it; user text outside the block is kept. Returns `[action, path, warning?]` rows.
 */
function writeAgentsFiles(root) {
  const rows = [];
  const agents = path.join(root, "AGENTS.md");
  let duplicate = false;
  if (!existsSync(agents)) {
    writeFileSync(agents, `${AGENTS_BLOCK}\n`);
    rows.push(["created", "AGENTS.md"]);
  } else {
    const text = readFileSync(agents, "utf8");
    const blocks = managedBlocks(text);
    const eol = text.includes("\r\n") ? "\r\n" : "\n";
    const block = AGENTS_BLOCK.replace(/\n/g, eol);
    if (blocks.length > 1) {
      duplicate = true;
      rows.push(["kept", "AGENTS.md", `AGENTS.md has ${blocks.length} arkor-managed blocks (${AGENTS_BEGIN} / ${AGENTS_END}); remove the extra ones and run arkor init again.`]);
    } else if (blocks.length === 1) {
      const { start, end } = blocks[0];
      if (text.slice(start, end) === block) rows.push(["ok", "AGENTS.md"]);
      else {
        writeFileSync(agents, text.slice(0, start) + block + text.slice(end));
        rows.push(["patched", "AGENTS.md"]);
      }
    } else {
      writeFileSync(agents, `${text}${text === "" || text.endsWith("\n") ? "" : eol}${eol}${block}${eol}`);
      rows.push(["patched", "AGENTS.md"]);
    }
  }
  const claude = path.join(root, "CLAUDE.md");
  if (existsSync(claude)) rows.push(["kept", "CLAUDE.md"]);
  else if (duplicate) rows.push(["skipped", "CLAUDE.md", "CLAUDE.md not written until AGENTS.md has one managed block."]);
  else {
    writeFileSync(claude, "@AGENTS.md\n");
    rows.push(["created", "CLAUDE.md"]);
  }
  return rows;
}

module.exports = {
  arkorDependency,
  choosePackageManager,
  install,
  isInGitRepo,
  gitInitialCommit,
  writeAgentsFiles,
  AGENTS_BEGIN,
  AGENTS_END,
  PACKAGE_MANAGERS,
};
