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

/** The JS error for one decoded payload (see src/errors.rs); `cause` nests. */
function build(info) {
  if (info.kind === 'api') return new CloudApiError(info.status, info.message);
  if (info.kind === 'transport') {
    // What `fetch` throws when no answer came ('fetch failed'), or when the
    // body of one broke off ('terminated'), as upstream surfaces it; the
    // details ride on `cause`, as undici puts them there.
    const cause = new Error(info.message);
    if (info.code) cause.code = info.code;
    return new TypeError(info.bodyBroken ? 'terminated' : 'fetch failed', { cause });
  }
  const options = info.cause ? { cause: build(info.cause) } : undefined;
  const out = info.kind === 'input' ? new TypeError(info.message, options) : new Error(info.message, options);
  if (info.code) out.code = info.code;
  if (info.kind === 'aborted') out.name = 'AbortError';
  // Upstream's own Error subclasses (ProjectStateMismatchError,
  // AnonymousTokenRejectedError) are told apart by `name` and `status`.
  if (info.name) out.name = info.name;
  if (typeof info.status === 'number') out.status = info.status;
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
