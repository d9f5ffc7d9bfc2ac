"use strict";

// Plain-text renderings of jobs and job events, shared by `arkor jobs`,
// `arkor logs` and `arkor start`'s progress display.

const num = (v, digits) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "-");

/** `1234` → `1.2k`, for rates. */
function compact(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "-";
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${Math.round(v / 1e3)}k`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v >= 100 ? String(Math.round(v)) : v.toFixed(1);
}

/** The metrics of one `training.log` event or `onLog` context. */
function describeMetrics(ev, maxSteps) {
  const parts = [`step ${ev.step}${maxSteps ? `/${maxSteps}` : ""}`, `loss ${num(ev.loss, 4)}`];
  if (typeof ev.evalLoss === "number") parts.push(`eval loss ${num(ev.evalLoss, 4)}`);
  if (typeof ev.learningRate === "number") parts.push(`lr ${ev.learningRate.toExponential(2)}`);
  if (typeof ev.tokensPerSecond === "number") parts.push(`${compact(ev.tokensPerSecond)} tok/s`);
  if (typeof ev.samplesPerSecond === "number") parts.push(`${num(ev.samplesPerSecond, 2)} samples/s`);
  return parts.join(" · ");
}

/** `HH:MM:SS` of an ISO timestamp, or `--:--:--`. */
function clock(iso) {
  return typeof iso === "string" && iso.length >= 19 ? iso.slice(11, 19) : "--:--:--";
}

/** One line for a job event, or null for events not worth a line. */
function describeEvent(ev, job) {
  const cfg = (job && job.config) || {};
  const maxSteps = typeof cfg.maxSteps === "number" ? cfg.maxSteps : null;
  let text;
  switch (ev.type) {
    case "training.started":
      text = `started${cfg.model ? ` (model ${cfg.model})` : ""}`;
      break;
    case "training.log":
      text = describeMetrics(ev, maxSteps);
      break;
    case "checkpoint.saved":
      text = `checkpoint saved at step ${ev.step}`;
      break;
    case "training.completed": {
      const m = ev.metrics || {};
      const extra = [];
      if (typeof m.steps === "number") extra.push(`${m.steps} steps`);
      if (typeof m.finalLoss === "number") extra.push(`final loss ${num(m.finalLoss, 4)}`);
      if (typeof m.evalLoss === "number") extra.push(`eval loss ${num(m.evalLoss, 4)} on ${m.evalExamples} ${m.evalSource} rows`);
      text = `completed${extra.length ? ` (${extra.join(", ")})` : ""}`;
      break;
    }
    case "training.failed":
      text = `failed: ${ev.error}`;
      break;
    case "training.cancelled":
      text = "cancelled";
      break;
    default:
      return null;
  }
  return `${clock(ev.timestamp)} ${text}`;
}

module.exports = { describeMetrics, describeEvent, compact, clock };
