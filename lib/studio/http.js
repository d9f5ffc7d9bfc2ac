"use strict";

// Small request/response helpers for the Studio server (node:http).

/** Largest JSON body Studio reads (the local backend's own limit). */
const MAX_BODY_BYTES = 1024 * 1024;

/** An error answered as `{ error: message }` with `status`. */
class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function sendJson(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(body);
}

function sendText(res, status, text) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(text);
}

/** The request body as text, refusing more than MAX_BODY_BYTES with a 413. */
async function readText(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The request body parsed as JSON. An empty body reads as `empty` (when
 * given); anything that is not JSON is a 400.
 */
async function readJson(req, { empty } = {}) {
  const text = await readText(req);
  if (text.trim() === "" && empty !== undefined) return empty;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "Invalid JSON body");
  }
}

const isPlainObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Streams a WHATWG `Response` (from the SDK's client) to `res`, keeping its
 * status and content type. When the browser goes away first, the upstream
 * body is cancelled (and `abort` called), so nothing keeps reading for a
 * client that is gone.
 */
async function pipeResponse(upstream, res, { abort } = {}) {
  const headers = { "cache-control": "no-cache, no-transform" };
  const type = upstream.headers.get("content-type");
  if (type) headers["content-type"] = type;
  for (const name of ["deprecation", "sunset", "warning"]) {
    const v = upstream.headers.get(name);
    if (v !== null) headers[name] = v;
  }
  res.writeHead(upstream.status, headers);
  res.flushHeaders();
  if (!upstream.body) return void res.end();
  const reader = upstream.body.getReader();
  const onClose = () => {
    if (!res.writableFinished) {
      reader.cancel().catch(() => {});
      if (abort) abort();
    }
  };
  res.on("close", onClose);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((r) => res.once("drain", r).once("close", r));
      if (res.destroyed) break;
    }
  } catch {
    // The upstream body broke off or was cancelled because the client left.
  } finally {
    res.off("close", onClose);
    res.end();
  }
}

module.exports = { HttpError, sendJson, sendText, readJson, isPlainObject, pipeResponse, MAX_BODY_BYTES };
