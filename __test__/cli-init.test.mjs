// `arkor init` around the scaffold: the `arkor` dependency a fresh install
// can resolve, the install it runs itself, git, and AGENTS.md. The first
// test follows the printed "Next" steps for real (a real `npm install`
// against this checkout, then `npx arkor start`); the others put a
// recording package manager on PATH, standing in for npm/pnpm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

import { arkor, assertExit, cliEnv, makeTempDir, REPO_ROOT, STARTED, TINY_MODEL } from "./helpers/cli.mjs";

const GIT_ID = { GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" };

/** The indented lines under "Next:". */
function nextSteps(stdout) {
  const at = stdout.lastIndexOf("\nNext:\n");
  assert.ok(at >= 0, stdout);
  return stdout.slice(at + 7).split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
}

test("a scaffolded project installs as its Next steps say and trains with `npx arkor start`", async () => {
  // The npm cache of the user running the tests, so the install does not refetch what it already has.
  const { env } = cliEnv({ npm_config_cache: process.env.npm_config_cache || join(homedir(), ".npm"), npm_config_user_agent: undefined });
  const parent = makeTempDir("arkor-init-install-");
  const r = arkor(["init", "proj", "--yes", "--use-npm", "--skip-install", "--skip-git"], { cwd: parent, env });
  assertExit(r, 0, "arkor init");
  const steps = nextSteps(r.stdout);
  assert.deepEqual(steps, ["cd proj", "npm install", "npx arkor models pull google/gemma-3-270m", "npx arkor start"]);
  const dir = join(parent, "proj");
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  assert.equal(pkg.devDependencies.arkor, `file:${REPO_ROOT}`, "a checkout's CLI links the project to the checkout");
  assert.deepEqual(pkg.allowScripts, { arkor: true }, "arkor's install step is allowed (it skips the build when the checkout is built)");

  // The one edit: the model line, to the built-in tiny model (and fewer steps).
  const trainer = join(dir, "src", "arkor", "trainer.ts");
  const src = readFileSync(trainer, "utf8");
  assert.ok(src.includes('model: "google/gemma-3-270m"'), src);
  writeFileSync(trainer, src.replace('model: "google/gemma-3-270m"', `model: "${TINY_MODEL}"`).replace(/maxSteps: \d+/, "maxSteps: 6"));

  // The checkout must hold a current build (as after `npm install`), or the
  // project's install would rebuild it, which this test rules out.
  const { createRequire } = await import("node:module");
  const { platformSuffix, usableBinary } = createRequire(import.meta.url)("../scripts/install.js");
  assert.ok(usableBinary(platformSuffix()), "the checkout's addon is older than its sources: run `npm run build` first");
  const addon = () => readdirSync(REPO_ROOT).filter((f) => /^arkor\..+\.node$/.test(f)).map((f) => statSync(join(REPO_ROOT, f)).mtimeMs);
  const built = addon();
  let cwd = parent;
  for (const step of steps) {
    if (step.startsWith("cd ")) {
      cwd = join(cwd, step.slice(3));
      continue;
    }
    // The tiny model is built in: nothing to pull.
    if (step.startsWith("npx arkor models pull")) continue;
    const run = spawnSync(step, { cwd, env, shell: true, encoding: "utf8", timeout: 600_000 });
    assertExit(run, 0, step);
    if (step === "npx arkor start") {
      const jobId = run.stdout.match(STARTED)?.[1];
      assert.ok(jobId, run.stdout);
      assert.match(run.stdout, new RegExp(`Job ${jobId} finished with status=completed`));
    }
  }
  assert.ok(existsSync(join(dir, "node_modules", "arkor", "package.json")), "npm install put arkor in node_modules");
  assert.deepEqual(addon(), built, "installing the project did not rebuild the checkout's addon (scripts/install.js saw it current)");
  assert.ok(existsSync(join(dir, "package-lock.json")));
});

/** A directory with a fake `name` executable that logs its argv and cwd, and exits with `code`. */
function fakePackageManager(name, code = 0) {
  const bin = makeTempDir("arkor-fake-pm-");
  const log = join(bin, "calls.log");
  writeFileSync(
    join(bin, name),
    `#!/bin/sh\necho "$(pwd) $*" >> ${JSON.stringify(log)}\n[ ${code} = 0 ] && echo '{}' > package-lock.json\nexit ${code}\n`,
  );
  chmodSync(join(bin, name), 0o755);
  return { bin, calls: () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []) };
}

test("init runs the install itself with --use-<pm> or the calling package manager, then commits with --git", () => {
  const npm = fakePackageManager("npm");
  const pnpm = fakePackageManager("pnpm");
  const path = [npm.bin, pnpm.bin, process.env.PATH].join(delimiter);
  const parent = makeTempDir("arkor-init-pm-");

  const a = arkor(["init", "a", "--yes", "--use-npm", "--git"], { cwd: parent, env: cliEnv({ PATH: path, ...GIT_ID }).env });
  assertExit(a, 0, "init --use-npm --git");
  assert.deepEqual(npm.calls(), [`${join(parent, "a")} install`]);
  assert.deepEqual(nextSteps(a.stdout), ["cd a", "npx arkor models pull google/gemma-3-270m", "npx arkor start"], "no install step once installed");
  const log = spawnSync("git", ["log", "--format=%s", "--name-only"], { cwd: join(parent, "a"), encoding: "utf8" });
  assert.equal(log.status, 0, log.stderr);
  assert.match(log.stdout, /^Initial commit from `arkor init`\n/);
  assert.match(log.stdout, /^package-lock\.json$/m, "the lockfile the install wrote is in the initial commit");
  assert.match(log.stdout, /^src\/arkor\/trainer\.ts$/m);

  // No flag: the package manager that runs us, from npm_config_user_agent.
  const b = arkor(["init", "b", "--yes", "--skip-git"], { cwd: parent, env: cliEnv({ PATH: path, npm_config_user_agent: "pnpm/9.1.0 npm/? node/v20.0.0 linux x64" }).env });
  assertExit(b, 0, "init under pnpm");
  assert.deepEqual(pnpm.calls(), [`${join(parent, "b")} install`]);
  assert.equal(existsSync(join(parent, "b", ".git")), false, "--skip-git");

  const both = arkor(["init", "c", "--use-npm", "--use-pnpm"], { cwd: parent, env: cliEnv({ PATH: path }).env });
  assertExit(both, 1, "two package managers");
  assert.match(both.stderr, /Pick one of --use-npm \/ --use-pnpm, not several\./);
  assert.equal(existsSync(join(parent, "c")), false, "nothing written");
});

test("a failed install is reported with the command to retry, and --git then waits for it", () => {
  const npm = fakePackageManager("npm", 3);
  const parent = makeTempDir("arkor-init-fail-");
  const r = arkor(["init", "p", "--yes", "--use-npm", "--git"], { cwd: parent, env: cliEnv({ PATH: `${npm.bin}${delimiter}${process.env.PATH}`, ...GIT_ID }).env });
  assertExit(r, 0, "init with a failing install");
  assert.match(r.stderr, /`npm install` exited with code 3\.\nRetry manually: npm install/);
  assert.match(r.stdout, /Skipping git init too\. `npm install` failed/);
  assert.equal(existsSync(join(parent, "p", ".git")), false);
  assert.ok(nextSteps(r.stdout).includes("npm install"));
});

test("AGENTS.md: created with CLAUDE.md, refreshed in place around the user's text, left alone when doubled; --no-agents-md writes neither", () => {
  const { env } = cliEnv();
  const parent = makeTempDir("arkor-init-agents-");
  const init = (dir, ...flags) => arkor(["init", dir, "--yes", "--skip-install", "--skip-git", ...flags], { cwd: parent, env });
  assertExit(init("a"), 0, "init");
  const agents = join(parent, "a", "AGENTS.md");
  const block = readFileSync(agents, "utf8");
  assert.match(block, /^<!-- BEGIN:arkor-agent-rules -->\n# arkor is newer than your training data\n[\s\S]+\n<!-- END:arkor-agent-rules -->\n$/);
  assert.equal(readFileSync(join(parent, "a", "CLAUDE.md"), "utf8"), "@AGENTS.md\n");

  // An outdated block between the user's own notes is replaced; the notes stay.
  const stale = block.replace(/\n- [^\n]+/g, "\n- old rule");
  writeFileSync(agents, `# My notes\n\n${stale}\nMore of mine.\n`);
  const again = init("a");
  assertExit(again, 0, "re-init");
  assert.match(again.stdout, /patched +AGENTS\.md/);
  assert.equal(readFileSync(agents, "utf8"), `# My notes\n\n${block}\nMore of mine.\n`);
  assert.match(init("a").stdout, /ok +AGENTS\.md/, "nothing to do the third time");

  // Two managed blocks: neither is picked.
  mkdirSync(join(parent, "d"));
  writeFileSync(join(parent, "d", "AGENTS.md"), `${block}\n${block}`);
  const d = init("d");
  assertExit(d, 0, "doubled block");
  assert.match(d.stderr, /AGENTS\.md has 2 arkor-managed blocks/);
  assert.equal(existsSync(join(parent, "d", "CLAUDE.md")), false);

  assertExit(init("n", "--no-agents-md"), 0, "--no-agents-md");
  assert.equal(existsSync(join(parent, "n", "AGENTS.md")), false);
  assert.equal(existsSync(join(parent, "n", "CLAUDE.md")), false);

  const name = arkor(["init", "x", "--yes", "--skip-install", "--skip-git", "--name", "My Fine Tuner!"], { cwd: parent, env });
  assertExit(name, 0, "--name");
  assert.equal(JSON.parse(readFileSync(join(parent, "x", "package.json"), "utf8")).name, "my-fine-tuner");
});

test("init refuses a target that is a file, or lies under one, plainly and before writing anything", () => {
  const { env } = cliEnv();
  const parent = makeTempDir("arkor-init-file-");
  writeFileSync(join(parent, "taken"), "not a directory\n");
  for (const [dir, message] of [
    ["taken", `${join(parent, "taken")} exists and is not a directory; name a new directory, or an existing one, for the project`],
    [
      "taken/proj",
      `${join(parent, "taken")} is not a directory, so ${join(parent, "taken", "proj")} cannot be made under it; name a new directory, or an existing one, for the project`,
    ],
  ]) {
    const r = arkor(["init", dir, "--yes", "--skip-install", "--skip-git"], { cwd: parent, env });
    assertExit(r, 1, `arkor init ${dir}`);
    assert.equal(r.stderr, `arkor: ${message}\n`);
    assert.equal(r.stdout, "");
  }
  assert.equal(readFileSync(join(parent, "taken"), "utf8"), "not a directory\n");
  assert.deepEqual(readdirSync(parent), ["taken"]);
});
