// createArkor / isArkor (lib/manifest.js), loaded directly so the test does
// not need the native addon.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { createArkor, isArkor } = require("../lib/manifest.js");

const fakeTrainer = () => ({
  name: "fake",
  start: async () => ({ jobId: "job-1" }),
  wait: async () => ({ job: { id: "job-1", status: "completed" }, artifacts: [] }),
  cancel: async () => {},
});

test("createArkor returns a frozen manifest tagged _kind: arkor", () => {
  const trainer = fakeTrainer();
  const arkor = createArkor({ trainer });
  assert.equal(arkor._kind, "arkor");
  assert.equal(arkor.trainer, trainer);
  assert.ok(Object.isFrozen(arkor));
  assert.deepEqual(Object.keys(arkor).sort(), ["_kind", "trainer"]);
  assert.throws(() => {
    arkor.trainer = null;
  }, TypeError);
  assert.equal(arkor.trainer, trainer);
});

test("createArkor without a trainer keeps the key, set to undefined", () => {
  const arkor = createArkor({});
  assert.equal(arkor._kind, "arkor");
  assert.ok("trainer" in arkor);
  assert.equal(arkor.trainer, undefined);
  assert.ok(Object.isFrozen(arkor));
});

test("createArkor ignores input keys other than trainer", () => {
  const arkor = createArkor({ trainer: fakeTrainer(), deploy: {}, _kind: "x" });
  assert.deepEqual(Object.keys(arkor).sort(), ["_kind", "trainer"]);
  assert.equal(arkor._kind, "arkor");
});

test("isArkor accepts manifests and any object tagged _kind: arkor", () => {
  assert.equal(isArkor(createArkor({ trainer: fakeTrainer() })), true);
  assert.equal(isArkor(createArkor({})), true);
  // Structural: frozenness is not checked.
  assert.equal(isArkor({ _kind: "arkor" }), true);
});

test("isArkor rejects everything else", () => {
  for (const v of [
    null,
    undefined,
    0,
    "arkor",
    true,
    {},
    { _kind: "Arkor" },
    { kind: "arkor" },
    fakeTrainer(),
    () => {},
  ]) {
    assert.equal(isArkor(v), false, `isArkor(${String(v)})`);
  }
});
