'use strict';

const { fromNative, translated } = require('./errors');
const { streamingRequest } = require('./response');

// A process-wide observer the `arkor` CLI installs to draw its progress line
// for trainers created by user code it runs. Internal: not part of the API.
const PROGRESS_HOOK = Symbol.for('arkor.progress');

// The batch layout and callback bits, asked of each binary once, with where
// each `onLog` number sits in an entry (`at.loss`, ...), by the native field list.
const layouts = new WeakMap();
function layoutOf(native) {
  let layout = layouts.get(native);
  if (!layout) {
    layout = native.eventBatchLayout();
    layout.at = Object.fromEntries(layout.logFields.map((name, i) => [name, i]));
    layouts.set(native, layout);
  }
  return layout;
}

// The bit set of registered callbacks, with the native side's bit values.
function callbackMask(native, callbacks) {
  let mask = 0;
  for (const [name, bit] of Object.entries(layoutOf(native).callbacks)) {
    if (typeof callbacks[name] === 'function') mask |= bit;
  }
  return mask;
}

const nullable = (x) => (x === x ? x : null); // NaN stands for null

/**
 * Builds the function the native side calls with each batch of events
 * (`{ kinds, metrics, texts }`, laid out by `arkor_client::events::Batch`).
 * It runs the callbacks in order, awaiting any promise before the next one,
 * and answers `true`, or `false` after recording the first thrown value.
 * Every context shares the job object until an event replaces it, as
 * upstream's contexts do.
 */
function makeDispatcher(native, callbacks, makeInfer, failure, hook) {
  const layout = layoutOf(native);
  const { JOB, STARTED, LOG, LOG_TEXT, CHECKPOINT, COMPLETED, FAILED } = layout.kinds;
  const STRIDE = layout.logFields.length;
  const { step: STEP, loss: LOSS, evalLoss: EVAL_LOSS, learningRate: LR, epoch: EPOCH, samplesPerSecond: SPS, tokensPerSecond: TPS } = layout.at;
  let job = null;
  const fail = (err) => {
    failure.thrown = true;
    failure.error = err;
    return false;
  };
  const isThenable = (ret) => ret !== null && (typeof ret === 'object' || typeof ret === 'function') && typeof ret.then === 'function';
  // Runs one callback; `extra` is what only the progress hook sees.
  const run = (cb, ctx, extra) => {
    if (hook) {
      try {
        hook(cb, extra === undefined ? ctx : { ...ctx, ...extra });
      } catch {
        // A broken progress display must never fail the run.
      }
    }
    return typeof callbacks[cb] === 'function' ? callbacks[cb](ctx) : undefined;
  };
  // Runs entry `i` of `batch`; `at` holds the read positions in `metrics`
  // and `texts`. Returns what the callback returned.
  const runEntry = (batch, i, at) => {
    const { metrics, texts } = batch;
    switch (batch.kinds[i]) {
      case JOB:
        job = JSON.parse(texts[at.t++]);
        return undefined;
      case LOG: {
        const m = at.m;
        at.m += STRIDE;
        const ctx = {
          step: nullable(metrics[m + STEP]),
          loss: nullable(metrics[m + LOSS]),
          evalLoss: nullable(metrics[m + EVAL_LOSS]),
          learningRate: nullable(metrics[m + LR]),
          epoch: nullable(metrics[m + EPOCH]),
          samplesPerSecond: nullable(metrics[m + SPS]),
          job,
        };
        if (!hook) return callbacks.onLog(ctx);
        const tps = metrics[m + TPS];
        return run('onLog', ctx, tps === tps ? { tokensPerSecond: tps } : undefined);
      }
      case LOG_TEXT: {
        const ctx = JSON.parse(texts[at.t++]);
        ctx.job = job;
        return run('onLog', ctx);
      }
      case STARTED:
        return run('onStarted', { job });
      case CHECKPOINT: {
        const { step, adapter, artifacts } = JSON.parse(texts[at.t++]);
        const ctx = { step, adapter, job, infer: makeInfer(adapter) };
        if (artifacts !== undefined) ctx.artifacts = artifacts;
        return run('onCheckpoint', ctx);
      }
      case COMPLETED:
        return run('onCompleted', { job, artifacts: JSON.parse(texts[at.t++]).artifacts });
      case FAILED:
        return run('onFailed', { job, error: JSON.parse(texts[at.t++]).error });
      default:
        return undefined;
    }
  };
  // The rest of a batch once a callback returned a thenable: awaited one by
  // one, in an async function (cheaper per event than a .then chain).
  const finishAsync = async (batch, i, at, pending) => {
    try {
      await pending;
      for (i++; i < batch.kinds.length; i++) {
        const ret = runEntry(batch, i, at);
        if (isThenable(ret)) await ret;
      }
      return true;
    } catch (err) {
      return fail(err);
    }
  };
  return (batch) => {
    const at = { m: 0, t: 0 };
    const n = batch.kinds.length;
    for (let i = 0; i < n; i++) {
      let ret;
      try {
        ret = runEntry(batch, i, at);
      } catch (err) {
        return fail(err);
      }
      if (isThenable(ret)) return finishAsync(batch, i, at, ret);
    }
    return true;
  };
}

/** `createTrainer` on top of the native trainer. */
function createTrainerWith(native) {
  return function createTrainer(input, context = {}) {
    const { abortSignal } = input;
    let nativeTrainer;
    try {
      // The native side reads the input's fields the job config takes (the
      // schema's, as upstream reads them) and the context's fields it knows
      // (TrainerContextInput), and ignores the rest.
      nativeTrainer = new native.NativeTrainer(input, context || {});
    } catch (err) {
      throw fromNative(err);
    }

    // InferArgs cross as a typed object (InferArgsObject): the native side
    // reads the fields it knows, as upstream forwards only those.
    const makeInfer = (adapter) => (args) => {
      const { signal, ...body } = args || {};
      return streamingRequest(native, signal, (handle) => nativeTrainer.infer(adapter, body, handle));
    };

    const trainer = {
      name: input.name,
      start: () => translated(async () => ({ jobId: await nativeTrainer.start() })),
      async wait() {
        const signal = abortSignal;
        const handle = new native.AbortHandle();
        const onAbort = () => handle.abort();
        if (signal) {
          if (signal.aborted) handle.abort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }
        const cbs = input.callbacks || {};
        const failure = { thrown: false, error: undefined };
        const hook = typeof globalThis[PROGRESS_HOOK] === 'function' ? globalThis[PROGRESS_HOOK] : null;
        const mask = hook ? 31 : callbackMask(native, cbs);
        try {
          return await nativeTrainer.wait(makeDispatcher(native, cbs, makeInfer, failure, hook), mask, handle);
        } catch (err) {
          if (failure.thrown) throw failure.error;
          if (signal && signal.aborted) throw signal.reason;
          throw fromNative(err);
        } finally {
          if (signal) signal.removeEventListener('abort', onAbort);
        }
      },
      cancel: () => translated(() => nativeTrainer.cancel()),
    };
    return trainer;
  };
}

module.exports = { createTrainerWith, PROGRESS_HOOK };
