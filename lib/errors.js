'use strict';

/**
 * A non-2xx answer from the cloud API (or the local backend).
 * `status` is the HTTP status; `message` comes from the body's `error` field,
 * else the body text, else `cloud-api <status>`.
 */
class CloudApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
    this.name = 'CloudApiError';
  }
}

const TAG = '\u0001arkor-error:';

/**
 * Rebuilds the JS error a native failure stands for: `CloudApiError` for API
 * answers, an `Error` with an fs-style `code` for file errors.
 */
function fromNative(err) {
  const msg = err && typeof err.message === 'string' ? err.message : '';
  const at = msg.indexOf(TAG);
  if (at === -1) return err;
  let info;
  try {
    info = JSON.parse(msg.slice(at + TAG.length));
  } catch {
    return err;
  }
  return build(info);
}

// One error from its native description. A transport failure nested as a
// cause takes the shape fetch gives it upstream: TypeError('fetch failed')
// over the error that says what happened.
function build(info, nested = false) {
  let out;
  if (info.kind === 'api') out = new CloudApiError(info.status, info.message);
  else if (info.kind === 'transport' && nested) out = new TypeError('fetch failed', { cause: new Error(info.message) });
  else if (info.kind === 'input') out = new TypeError(info.message);
  else out = new Error(info.message);
  if (info.code) out.code = info.code;
  if (info.kind === 'aborted') out.name = 'AbortError';
  if (info.cause) out.cause = build(info.cause, true);
  return out;
}

/** Calls `fn`, turning a native error it throws or rejects with into its JS form. */
async function translated(fn) {
  try {
    return await fn();
  } catch (err) {
    throw fromNative(err);
  }
}

module.exports = { CloudApiError, fromNative, translated };
