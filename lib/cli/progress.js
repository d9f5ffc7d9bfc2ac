"use strict";

// The progress display of `arkor start`: one live line on a terminal, plain
// lines otherwise. Fed by the SDK's internal progress hook.

const PROGRESS_HOOK = Symbol.for("arkor.progress");

function formatDuration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

const { describeMetrics } = require("./format.js");

/** Text of one progress update for a `training.log` context. */
function describeLog(ctx, startedAtMs, nowMs) {
  const cfg = (ctx.job && ctx.job.config) || {};
  const total = typeof cfg.maxSteps === "number" ? cfg.maxSteps : null;
  const parts = [describeMetrics(ctx, total)];
  let fraction = null;
  if (total) fraction = ctx.step / total;
  else if (typeof ctx.epoch === "number") fraction = ctx.epoch / (typeof cfg.numTrainEpochs === "number" ? cfg.numTrainEpochs : 1);
  if (fraction && fraction > 0 && fraction <= 1) {
    const elapsed = (nowMs - startedAtMs) / 1000;
    parts.push(`ETA ${formatDuration((elapsed * (1 - fraction)) / fraction)}`);
  }
  return parts.join(" · ");
}

/**
 * Installs the progress hook for the rest of the process. Writes to
 * `stream` (stderr by default, so a program's own stdout stays clean).
 */
function installProgress(stream = process.stderr, now = Date.now) {
  const live = Boolean(stream.isTTY);
  let startedAt = now();
  let drawn = false;
  const clear = () => {
    if (drawn) {
      stream.write("\r\x1b[2K");
      drawn = false;
    }
  };
  const line = (text) => {
    clear();
    stream.write(`${text}\n`);
  };
  globalThis[PROGRESS_HOOK] = (cb, ctx) => {
    switch (cb) {
      case "onStarted":
        startedAt = now();
        line(`Training started (job ${ctx.job.id}, model ${ctx.job.config && ctx.job.config.model})`);
        break;
      case "onLog": {
        const text = describeLog(ctx, startedAt, now());
        if (live) {
          stream.write(`\r\x1b[2K${text}`);
          drawn = true;
        } else {
          stream.write(`${text}\n`);
        }
        break;
      }
      case "onCheckpoint":
        line(`Checkpoint saved at step ${ctx.step}`);
        break;
      case "onCompleted":
        line(`Training completed in ${formatDuration((now() - startedAt) / 1000)}`);
        break;
      case "onFailed":
        line(`Training failed: ${ctx.error}`);
        break;
      default:
        break;
    }
  };
  return { clear };
}

module.exports = { installProgress, describeLog, formatDuration, PROGRESS_HOOK };
