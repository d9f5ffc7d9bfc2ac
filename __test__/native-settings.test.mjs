// Process-wide engine settings the addon makes itself as it loads, so that no JS
// module has to set the engine's environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

import { ADDON_PATH } from "./helpers/mock-cloud.mjs";

function threadsAfterLoad(value) {
  const env = { ...process.env };
  delete env.CANDLE_NUM_THREADS;
  if (value !== undefined) env.CANDLE_NUM_THREADS = value;
  const code = `const before = process.env.CANDLE_NUM_THREADS ?? "unset";
require(${JSON.stringify(ADDON_PATH)});
console.log(before + " " + process.env.CANDLE_NUM_THREADS);`;
  const r = spawnSync(process.execPath, ["-e", code], { env, encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test("loading the addon keeps candle's element-wise ops on the calling thread by default", () => {
  assert.equal(threadsAfterLoad(undefined), "unset 1");
});

test("a CANDLE_NUM_THREADS the user set wins", () => {
  assert.equal(threadsAfterLoad("3"), "3 3");
});
