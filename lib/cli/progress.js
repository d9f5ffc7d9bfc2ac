"use strict";

// The progress display of `arkor start`: one live line on a terminal, plain
// lines otherwise. Fed by the SDK's internal progress hook.

// A registry symbol, so the hook reaches trainers of another copy of the package
// (the one a user's project installed) as well as this one's.
const { PROGRESS_HOOK } = require("../trainer.js");

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

/**
 * Text of one progress update for a `training.log` context. Eval loss comes
 * only on eval steps; `lastEval` (`{ step, evalLoss }` of the latest one)
 * keeps it on the live line between them, marked with its step.
 */
function describeLog(ctx, startedAtMs, nowMs, lastEval = null) {
  const cfg = (ctx.job && ctx.job.config) || {};
  const total = typeof cfg.maxSteps === "number" ? cfg.maxSteps : null;
  const parts = [describeMetrics(ctx, total)];
  if (typeof ctx.evalLoss !== "number" && lastEval) {
    parts.splice(1, 0, `eval loss ${lastEval.evalLoss.toFixed(4)} @${lastEval.step}`);
  }
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
 * `stream` (stderr by default, so a program's own stdout stays clean). On a
 * terminal the progress is one line redrawn in place; whatever else the
 * process prints to that terminal (the trainer's own console.log, say) is
 * written above it, and the line is drawn again below.
 */
function installProgress(stream = process.stderr, now = Date.now) {
  const live = Boolean(stream.isTTY);
  const write = stream.write.bind(stream);
  let startedAt = now();
  let drawn = null; // the text of the line on screen, if any
  let lastEval = null; // the latest eval step's { step, evalLoss }
  const clear = () => {
    if (drawn !== null) {
      write("\r\x1b[2K");
      drawn = null;
    }
  };
  const line = (text) => {
    clear();
    write(`${text}\n`);
  };
  if (live) {
    // Other output to the same terminal: clear the progress line first, and
    // draw it again once that output ended its line.
    const targets = new Set([stream, process.stdout, process.stderr].filter((s) => s && s.isTTY));
    for (const target of targets) {
      const original = target.write;
      target.write = function writeAboveProgress(chunk, ...rest) {
        if (drawn === null) return original.call(this, chunk, ...rest);
        const text = drawn;
        clear();
        const ok = original.call(this, chunk, ...rest);
        const s = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString() : "";
        if (s.endsWith("\n")) {
          write(text);
          drawn = text;
        }
        return ok;
      };
    }
  }
  globalThis[PROGRESS_HOOK] = (cb, ctx) => {
    switch (cb) {
      case "onStarted":
        startedAt = now();
        lastEval = null;
        line(`Training started (job ${ctx.job.id}, model ${ctx.job.config && ctx.job.config.model})`);
        break;
      case "onLog": {
        const text = describeLog(ctx, startedAt, now(), live ? lastEval : null);
        if (typeof ctx.evalLoss === "number") lastEval = { step: ctx.step, evalLoss: ctx.evalLoss };
        if (live) {
          write(`\r\x1b[2K${text}`);
          drawn = text;
        } else {
          write(`${text}\n`);
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
