'use strict';

const { fromNative, translated } = require('./errors');
const { streamingRequest } = require('./response');

// A process-wide observer the `arkor` CLI installs to draw its progress line
// for trainers created by user code it runs. Internal: not part of the API.
const PROGRESS_HOOK = Symbol.for('arkor.progress');

// Bit values of the callbacks, as the native side numbers them.
const CALLBACK_BITS = { onStarted: 1, onLog: 2, onCheckpoint: 4, onCompleted: 8, onFailed: 16 };

function callbackMask(callbacks) {
  let mask = 0;
  for (const [name, bit] of Object.entries(CALLBACK_BITS)) {
    if (typeof callbacks[name] === 'function') mask |= bit;
  }
  return mask;
}

function contextJson(context) {
  const { baseUrl, credentials, cwd, reconnectDelayMs, maxReconnectDelayMs, maxReconnectAttempts } = context;
  return JSON.stringify({ baseUrl, credentials, cwd, reconnectDelayMs, maxReconnectDelayMs, maxReconnectAttempts });
}

/**
 * Builds the function the native side calls with each batch of events. It
 * runs the callbacks in order, awaiting any promise before the next one, and
 * answers `true`, or `false` after recording the first thrown value.
 */
function makeDispatcher(callbacks, makeInfer, failure, hook) {
  return (batchJson) => {
    const batch = JSON.parse(batchJson);
    const fail = (err) => {
      failure.thrown = true;
      failure.error = err;
      return false;
    };
    const runFrom = (start) => {
      for (let i = start; i < batch.length; i++) {
        const { cb, ctx } = batch[i];
        if (cb === 'onCheckpoint') ctx.infer = makeInfer(ctx.adapter);
        if (hook) {
          try {
            hook(cb, ctx);
          } catch {
            // A broken progress display must never fail the run.
          }
          if (typeof callbacks[cb] !== 'function') continue;
        }
        // Local-backend extra for the progress display only: user callbacks
        // get the upstream context, field for field.
        if (cb === 'onLog') delete ctx.tokensPerSecond;
        let ret;
        try {
          ret = callbacks[cb](ctx);
        } catch (err) {
          return fail(err);
        }
        if (ret !== null && (typeof ret === 'object' || typeof ret === 'function') && typeof ret.then === 'function') {
          return Promise.resolve(ret).then(() => runFrom(i + 1), fail);
        }
      }
      return true;
    };
    return runFrom(0);
  };
}

/** `createTrainer` on top of the native trainer. */
function createTrainerWith(native) {
  return function createTrainer(input, context = {}) {
    const { callbacks, abortSignal, ...rest } = input;
    let nativeTrainer;
    try {
      nativeTrainer = new native.NativeTrainer(JSON.stringify(rest), contextJson(context || {}));
    } catch (err) {
      throw fromNative(err);
    }

    const makeInfer = (adapter) => {
      const adapterJson = JSON.stringify(adapter);
      return (args) => {
        const { signal, ...body } = args || {};
        return streamingRequest(native, signal, (handle) => nativeTrainer.infer(adapterJson, JSON.stringify(body), handle));
      };
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
        const mask = hook ? 31 : callbackMask(cbs);
        try {
          const json = await nativeTrainer.wait(makeDispatcher(cbs, makeInfer, failure, hook), mask, handle);
          return JSON.parse(json);
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
