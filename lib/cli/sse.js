"use strict";

// Server-sent events from a WHATWG `Response` body, one parsed frame at a
// time: `{ event, id, data }` (data as text, multi-line data joined by \n).

async function* sseFrames(response) {
  const decoder = new TextDecoder();
  let buf = "";
  let frame = { event: "message", id: undefined, data: [] };
  const flush = function* () {
    if (frame.data.length || frame.event !== "message") {
      yield { event: frame.event, id: frame.id, data: frame.data.join("\n") };
    }
    frame = { event: "message", id: undefined, data: [] };
  };
  for await (const chunk of response.body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) !== -1) {
      const line = buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
      if (line === "") {
        yield* flush();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") frame.data.push(value);
      else if (field === "event") frame.event = value;
      else if (field === "id") frame.id = value;
    }
  }
  buf += decoder.decode();
  if (buf.trim()) {
    // A last frame without its blank line.
    const line = buf.replace(/\r$/, "");
    if (line.startsWith("data:")) frame.data.push(line.slice(5).replace(/^ /, ""));
  }
  yield* flush();
}

module.exports = { sseFrames };
