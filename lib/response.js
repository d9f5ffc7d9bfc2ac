'use strict';

const { fromNative } = require('./errors');

// Statuses whose Response may not have a body (the constructor throws).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Runs `fn(handle)` with a native abort handle tripped by `signal`. Resolves
 * `[value, detach]`; call `detach` when nothing can be aborted any more. An
 * abort rejects with exactly `signal.reason`, as `fetch` does.
 */
async function withSignal(native, signal, fn) {
  if (signal && signal.aborted) throw signal.reason;
  const handle = new native.AbortHandle();
  const onAbort = () => handle.abort();
  if (signal) signal.addEventListener('abort', onAbort, { once: true });
  const detach = () => {
    if (signal) signal.removeEventListener('abort', onAbort);
  };
  try {
    return [await fn(handle), detach];
  } catch (err) {
    detach();
    if (signal && signal.aborted) throw signal.reason;
    throw fromNative(err);
  }
}

/**
 * Wraps a native streaming response in a WHATWG `Response` whose body is
 * pulled from Rust one chunk at a time, only as fast as the reader reads.
 */
function toResponse(nativeRes, signal, detach) {
  const init = { status: nativeRes.status, statusText: nativeRes.statusText, headers: nativeRes.headers };
  if (NULL_BODY.has(init.status)) {
    detach();
    return new Response(null, init);
  }
  const body = new ReadableStream(
    {
      async pull(controller) {
        try {
          const chunk = await nativeRes.read();
          if (chunk === null) {
            detach();
            controller.close();
          } else {
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          }
        } catch (err) {
          detach();
          controller.error(signal && signal.aborted ? signal.reason : fromNative(err));
        }
      },
      cancel() {
        detach();
        nativeRes.cancel();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, init);
}

/** Opens a streaming request through `open(handle)` and returns a `Response`. */
async function streamingRequest(native, signal, open) {
  const [nativeRes, detach] = await withSignal(native, signal, open);
  return toResponse(nativeRes, signal, detach);
}

module.exports = { streamingRequest, withSignal };
