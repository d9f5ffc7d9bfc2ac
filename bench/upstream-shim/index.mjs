// A stand-in for `@arkor/cloud-api-client`, which upstream's SDK
// (arkorlab/arkor, packages/arkor) imports but which is not on the npm
// registry reachable here. It provides just the four names upstream's
// `createTrainer` path imports, so that bench/sse-dispatch.mjs can run
// upstream's own trainer code over the same mock server as arkor's:
//
//   iterateEvents(response)   the job stream's frames. Upstream's Studio
//                             says the real one is built on
//                             `eventsource-parser` (a dependency of that
//                             package), so this is too: decode each read,
//                             feed the parser, yield what it completed.
//   createClient(options)     the typed RPC client: Hono's `hc` with the
//                             bearer token and X-Arkor-Client headers.
//   parseErrorBody(body)      `{ error }` from an error body.
//   upgradeMessageFromBody()  the 426 text (not reached by the bench).
//
// Written for the benchmark; not part of the arkor package.
import { createParser } from "eventsource-parser";
import { hc } from "hono/client";

/** Frames of an SSE response, in order, as `{ id, event, data }`. */
export async function* iterateEvents(response) {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let ready = [];
  const parser = createParser({ onEvent: (msg) => ready.push(msg) });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      parser.feed(done ? decoder.decode() : decoder.decode(value, { stream: true }));
      const out = ready;
      ready = [];
      for (const msg of out) yield msg;
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/** The cloud API's RPC client over `fetch`. */
export function createClient({ baseUrl, token, fetch: fetchImpl, clientVersion, onDeprecation }) {
  const doFetch = fetchImpl ?? globalThis.fetch;
  return hc(baseUrl, {
    fetch: async (input, init) => {
      const res = await doFetch(input, init);
      if (onDeprecation && res.headers.get("Deprecation") === "true") {
        onDeprecation({ sdkVersion: clientVersion, message: res.headers.get("Warning") ?? "deprecated", sunset: res.headers.get("Sunset") });
      }
      return res;
    },
    headers: () => ({
      Authorization: `Bearer ${typeof token === "function" ? token() : token}`,
      "X-Arkor-Client": `arkor/${clientVersion}`,
    }),
  });
}

/** The fields of an error body that the SDK reads. */
export function parseErrorBody(body) {
  return body && typeof body === "object" && typeof body.error === "string" ? { error: body.error } : {};
}

/** The message for a 426 answer. */
export function upgradeMessageFromBody(_status, body, { upgradeCommand } = {}) {
  const base = parseErrorBody(body).error ?? "This version of the arkor SDK is no longer supported.";
  return upgradeCommand ? `${base} Run: ${upgradeCommand}` : base;
}
