// `arkor build` / `arkor start` (bin/arkor.js) in throwaway project dirs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync,
  symlinkSync, rmSync, realpathSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "arkor.js");
const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8"));

function arkor(cwd, ...args) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let work;
before(() => {
  work = realpathSync(mkdtempSync(path.join(tmpdir(), "arkor-cli-")));
});
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A project dir with the given files (paths relative to it). */
function project(name, files) {
  const dir = path.join(work, name);
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

// A tiny installed package whose `makeTrainer(id)` returns a fake trainer:
// proves that bare imports stay external and resolve from the project's
// node_modules when the artifact runs.
const FAKE_DEP = {
  "node_modules/fake-trainer-dep/package.json": JSON.stringify({
    name: "fake-trainer-dep",
    version: "1.0.0",
    main: "index.js",
  }),
  "node_modules/fake-trainer-dep/index.js": `
    exports.makeTrainer = (id) => ({
      name: id,
      async start() { return { jobId: id }; },
      async wait() { return { job: { id, status: "completed" }, artifacts: [] }; },
      async cancel() {},
    });
  `,
};

const TRAINER_ENTRY = (id) => ({
  "src/arkor/trainer.ts": `
    import { makeTrainer } from "fake-trainer-dep";
    const id: string = ${JSON.stringify(id)};
    export const trainer = makeTrainer(id);
  `,
  "src/arkor/index.ts": `
    import { trainer } from "./trainer";
    export const arkor = { _kind: "arkor" as const, trainer };
  `,
});

test("--version prints the package version; --help lists build and start", () => {
  const v = arkor(work, "--version");
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout.trim(), version);
  const h = arkor(work, "--help");
  assert.equal(h.status, 0, h.stderr);
  assert.match(h.stdout, /Usage: arkor/);
  assert.match(h.stdout, /build \[entry\]/);
  assert.match(h.stdout, /start \[entry\]/);
});

test("build bundles src/arkor/index.ts into .arkor/build/index.mjs, bare imports external", () => {
  const dir = project("build", {
    "src/arkor/helper.ts": `export const helperValue: number = 4242;`,
    "src/arkor/index.ts": `
      import { createArkor, createTrainer } from "arkor";
      import { join } from "node:path";
      import lodashLike from "some-package/sub";
      import { helperValue } from "./helper";
      export const arkor = createArkor({
        trainer: createTrainer({
          name: join("a", String(helperValue)) + String(lodashLike),
          model: "arkor/tiny-gemma3",
          dataset: { type: "blob", url: "file:///tmp/data.jsonl" },
        }),
      });
    `,
  });
  const r = arkor(dir, "build");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Built src\/arkor\/index\.ts → \.arkor\/build\/index\.mjs/);
  const out = path.join(dir, ".arkor", "build", "index.mjs");
  assert.ok(existsSync(out));
  const code = readFileSync(out, "utf8");
  // Bare specifiers are left as ESM imports...
  assert.match(code, /import \{[^}]*createArkor[^}]*\} from "arkor"/);
  assert.match(code, /from "some-package\/sub"/);
  assert.match(code, /from "node:path"/);
  // ...relative ones are inlined, and the TypeScript is compiled away.
  assert.doesNotMatch(code, /\.\/helper/);
  assert.match(code, /4242/);
  assert.doesNotMatch(code, /: number/);
  assert.match(code, /export \{[^}]*arkor[^}]*\}/);
});

test("build accepts an explicit entry (relative or absolute)", () => {
  const dir = project("build-entry", {
    "alt/entry.ts": `export const trainer = null as unknown;`,
  });
  const rel = arkor(dir, "build", "alt/entry.ts");
  assert.equal(rel.status, 0, rel.stderr);
  assert.ok(existsSync(path.join(dir, ".arkor", "build", "index.mjs")));
  rmSync(path.join(dir, ".arkor"), { recursive: true });
  const abs = arkor(dir, "build", path.join(dir, "alt", "entry.ts"));
  assert.equal(abs.status, 0, abs.stderr);
  assert.ok(existsSync(path.join(dir, ".arkor", "build", "index.mjs")));
});

test("build with a missing entry exits non-zero naming the path", () => {
  const dir = project("build-missing", {});
  const r = arkor(dir, "build");
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    new RegExp(
      `Build entry not found: ${escape(path.join(dir, "src/arkor/index.ts"))}\\. Create src/arkor/index\\.ts or pass an explicit entry argument\\.`,
    ),
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace for a user error");
  assert.ok(!existsSync(path.join(dir, ".arkor", "build", "index.mjs")));
});

test("start builds when there is no artifact, runs the trainer, prints both lines", () => {
  const dir = project("start", { ...FAKE_DEP, ...TRAINER_ENTRY("job-start-1") });
  const r = arkor(dir, "start");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Started job job-start-1\n/);
  assert.match(r.stdout, /Job job-start-1 finished with status=completed\n/);
  const code = readFileSync(path.join(dir, ".arkor", "build", "index.mjs"), "utf8");
  assert.match(code, /from "fake-trainer-dep"/);
});

test("start reuses an existing artifact; an explicit entry forces a rebuild", () => {
  const dir = project("start-reuse", { ...FAKE_DEP, ...TRAINER_ENTRY("old-id") });
  assert.equal(arkor(dir, "build").status, 0);
  // Edit the source; without an entry, start runs the stale artifact.
  writeFileSync(
    path.join(dir, "src/arkor/trainer.ts"),
    TRAINER_ENTRY("new-id")["src/arkor/trainer.ts"],
  );
  const stale = arkor(dir, "start");
  assert.equal(stale.status, 0, stale.stderr);
  assert.match(stale.stdout, /Started job old-id\n/);
  const fresh = arkor(dir, "start", "src/arkor/index.ts");
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.match(fresh.stdout, /Started job new-id\n/);
  assert.match(fresh.stdout, /Job new-id finished with status=completed\n/);
});

test("start with a missing entry exits non-zero with the build error", () => {
  const dir = project("start-missing", {});
  const r = arkor(dir, "start", "nope.ts");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`Build entry not found: ${escape(path.join(dir, "nope.ts"))}`));
  assert.doesNotMatch(r.stdout, /Started job/);
});

test("start on an entry exporting no trainer exits non-zero with the runner's message", () => {
  const dir = project("start-empty", { "src/arkor/index.ts": `export const nothing = 1;` });
  const r = arkor(dir, "start");
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /Training entry must export `arkor` \(from createArkor\(\{\.\.\.\}\)\) or `trainer` \(from createTrainer\(\{\.\.\.\}\)\), or default-export one of them\./,
  );
});

test("start exits non-zero when the trainer fails, showing the error", () => {
  const dir = project("start-throws", {
    "src/arkor/index.ts": `
      export const trainer = {
        async start() { return { jobId: "j-err" }; },
        async wait(): Promise<never> { throw new Error("event stream exploded"); },
        async cancel() {},
      };
    `,
  });
  const r = arkor(dir, "start");
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /Started job j-err\n/);
  assert.match(r.stderr, /event stream exploded/);
});

test("start exits once the run is over even if something keeps the event loop busy", () => {
  const dir = project("start-busy", {
    "src/arkor/index.ts": `
      // Stands in for a backend or client that keeps a handle open.
      setInterval(() => {}, 60_000);
      export const trainer = {
        async start() { return { jobId: "busy" }; },
        async wait() { return { job: { id: "busy", status: "completed" }, artifacts: [] }; },
        async cancel() {},
      };
    `,
  });
  const t0 = Date.now();
  const r = arkor(dir, "start");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Job busy finished with status=completed\n/);
  assert.ok(Date.now() - t0 < 60_000);
});

// With the real package: the artifact imports `arkor`, resolved through
// node_modules/arkor -> this repository. It needs the native addon (the root
// index.js loads it), as the rest of the suite does: an unbuilt or broken
// addon fails it rather than skipping it.
test(
  "start runs an artifact that imports createArkor from the installed arkor",
  () => {
    const dir = project("start-real-arkor", {
      ...FAKE_DEP,
      "src/arkor/index.ts": `
        import { createArkor, isArkor } from "arkor";
        import { makeTrainer } from "fake-trainer-dep";
        export const arkor = createArkor({ trainer: makeTrainer("real-arkor") });
        if (!isArkor(arkor)) throw new Error("not a manifest");
      `,
    });
    mkdirSync(path.join(dir, "node_modules"), { recursive: true });
    symlinkSync(ROOT, path.join(dir, "node_modules", "arkor"), "dir");
    const r = arkor(dir, "start");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Started job real-arkor\nJob real-arkor finished with status=completed\n/);
  },
);

function escape(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
