// The plain-JavaScript baseline of bench/sse-dispatch.mjs: `fetch` and a small
// SSE parser, written the way a competent JS SDK would follow a job's stream.
// Kept apart so the orchestrator reads in one sitting; it imports only
// `baselineWait`.
/**
 * Incremental `text/event-stream` parser over decoded text: `\n`, `\r\n` and
 * `\r` line endings, comments, `id`/`event`/`data` fields (multi-line data
 * joined with `\n`), optional single space after the colon. Frames are
 * dispatched on a blank line; like arkor's, a frame with an `event` but no
 * `data` is still delivered (so `event: end` works).
 */
class SseParser {
  constructor() {
    this.buf = "";
    this.id = undefined;
    this.event = undefined;
    this.data = "";
    this.hasData = false;
    this.pendingCR = false;
  }

  /** Feeds decoded text; returns the frames it completed. */
  feed(text) {
    const out = [];
    let buf = this.buf.length ? this.buf + text : text;
    if (this.pendingCR) {
      // the previous chunk ended in `\r`: a following `\n` belongs to it
      if (buf.charCodeAt(0) === 10) buf = buf.slice(1);
      this.pendingCR = false;
    }
    const hasCR = buf.indexOf("\r") !== -1;
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      let end = buf.indexOf("\n", pos);
      let next;
      if (hasCR) {
        const cr = buf.indexOf("\r", pos);
        if (cr !== -1 && (end === -1 || cr < end)) {
          end = cr;
          if (cr + 1 === len) {
            this.pendingCR = true;
            next = len;
          } else {
            next = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
          }
        } else if (end !== -1) {
          next = end + 1;
        }
      } else if (end !== -1) {
        next = end + 1;
      }
      if (end === -1) break;
      this.line(buf, pos, end, out);
      pos = next;
    }
    this.buf = pos < len ? buf.slice(pos) : "";
    return out;
  }

  line(buf, start, end, out) {
    if (start === end) {
      if (this.hasData || this.event !== undefined) {
        out.push({ id: this.id, event: this.event, data: this.data });
      }
      this.id = undefined; // `id` is remembered by the caller per frame
      this.event = undefined;
      this.data = "";
      this.hasData = false;
      return;
    }
    if (buf.charCodeAt(start) === 58 /* : */) return; // comment
    const colon = buf.indexOf(":", start);
    let field;
    let value;
    if (colon === -1 || colon >= end) {
      field = buf.slice(start, end);
      value = "";
    } else {
      field = buf.slice(start, colon);
      const v = buf.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = buf.slice(v, end);
    }
    switch (field) {
      case "data":
        this.data = this.hasData ? this.data + "\n" + value : value;
        this.hasData = true;
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (value.indexOf("\0") === -1) this.id = value;
        break;
      default:
        break;
    }
  }
}

const num = (v) => (typeof v === "number" ? v : null);

/**
 * What a competent JS SDK would do: `POST /v1/jobs`, then follow the
 * stream with `fetch`, parse frames, JSON.parse each data, build the same
 * callback context and await the callback (only when it returned a
 * thenable, as arkor's dispatcher does). No reconnect logic is needed here:
 * the stream ends with `training.completed`.
 */
export async function baselineWait(baseUrl, input) {
  const q = "orgSlug=org&projectSlug=p";
  const headers = { authorization: "Bearer t" };
  const created = await fetch(`${baseUrl}/v1/jobs?${q}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ name: input.name, config: { model: input.model, datasetSource: input.dataset } }),
  });
  if (created.status !== 201) throw new Error(`POST /v1/jobs: ${created.status}`);
  let { job } = await created.json();
  const cbs = input.callbacks;
  const res = await fetch(`${baseUrl}/v1/jobs/${encodeURIComponent(job.id)}/events/stream?${q}`, {
    headers: { ...headers, accept: "text/event-stream" },
  });
  if (!res.ok) throw new Error(`stream: ${res.status}`);
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let lastEventId;
  for await (const bytes of res.body) {
    const frames = parser.feed(decoder.decode(bytes, { stream: true }));
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (f.id !== undefined) lastEventId = f.id;
      if (f.event === "ping") continue;
      if (f.event === "end") return { job, artifacts: [] };
      let ev;
      try {
        ev = JSON.parse(f.data);
      } catch {
        continue;
      }
      let r;
      switch (ev.type) {
        case "training.log":
          if (cbs.onLog) {
            r = cbs.onLog({
              step: ev.step ?? null,
              loss: num(ev.loss),
              evalLoss: num(ev.evalLoss),
              learningRate: num(ev.learningRate),
              epoch: num(ev.epoch),
              samplesPerSecond: num(ev.samplesPerSecond),
              job,
            });
          }
          break;
        case "training.completed": {
          job = { ...job, status: "completed", completedAt: ev.timestamp };
          const artifacts = Array.isArray(ev.artifacts) ? ev.artifacts : [];
          if (cbs.onCompleted) {
            r = cbs.onCompleted({ job, artifacts });
            if (r && typeof r.then === "function") await r;
          }
          res.body.cancel().catch(() => {});
          return { job, artifacts };
        }
        default:
          break; // other types are not produced by this benchmark's server
      }
      if (r && typeof r.then === "function") await r;
    }
  }
  void lastEventId; // a reconnect would send it as Last-Event-ID
  throw new Error("stream ended without training.completed");
}
