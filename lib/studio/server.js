"use strict";

// The Studio server: node:http on loopback, serving the SPA (with the
// per-launch token in its <meta>) and `/api/*` (api.js). Every request
// passes the local backend's Host guard (asked of the native side); every
// `/api/*` call must carry the token. No CORS headers, on purpose: the SPA
// is same-origin, and without them a foreign page cannot read any answer.

const http = require("node:http");
const { timingSafeEqual } = require("node:crypto");
const { readFile } = require("node:fs/promises");
const path = require("node:path");

const { apiHandler } = require("./api.js");
const { sendJson, sendText } = require("./http.js");

/** Where the built SPA lives (lib/studio/build-app.js writes it). */
const ASSETS_DIR = path.join(__dirname, "dist");
const BIN_PATH = path.join(__dirname, "..", "..", "bin", "arkor.js");

const TOKEN_HEADER = "x-arkor-studio-token";
// EventSource cannot send headers: only the job event stream takes the
// token from the query string, so a token in a URL never authorises a change.
const QUERY_TOKEN_PATH = /^\/api\/jobs\/[^/]+\/events$/;

const CONTENT_TYPES = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  ico: "image/x-icon",
  woff2: "font/woff2",
  map: "application/json",
};

// Nothing but this origin: no CDN, no remote fonts, no framing.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** Constant-time comparison of the presented token with this launch's. */
function tokensMatch(provided, expected) {
  const a = Buffer.from(String(provided ?? ""));
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const escapeAttr = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `index.html` with `<meta name="arkor-studio-token">` before `</head>`. */
function withToken(html, token) {
  const meta = `<meta name="arkor-studio-token" content="${escapeAttr(token)}">`;
  const at = html.indexOf("</head>");
  return at === -1 ? meta + html : html.slice(0, at) + meta + html.slice(at);
}

/**
 * A `node:http` server for Studio (not listening yet). `token` is this
 * launch's secret (at least 16 characters); `cwd` the project directory.
 * `server.children` holds the running `arkor start` processes.
 */
function createStudioServer({ token, cwd = process.cwd(), assetsDir = ASSETS_DIR, binPath = BIN_PATH }) {
  if (typeof token !== "string" || token.length < 16) throw new TypeError("createStudioServer needs a token of at least 16 characters");
  const children = new Set();
  const api = apiHandler({ cwd, binPath, children });
  const native = require("../native");

  async function serveAsset(res, pathname) {
    let decoded;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      // A client's malformed escape (`%E0%A4%A`), not a server fault.
      return sendText(res, 400, `Bad request: the path ${pathname} is not valid percent-encoding`);
    }
    const rel = pathname === "/" ? "index.html" : decoded.replace(/^\/+/, "");
    const file = path.resolve(assetsDir, rel);
    const inside = file.startsWith(path.resolve(assetsDir) + path.sep);
    const ext = path.extname(file).slice(1).toLowerCase();
    let bytes = null;
    if (inside) bytes = await readFile(file).catch(() => null);
    // Unknown paths without an extension are the SPA's (hash) routes.
    if (!bytes && !ext) return serveAsset(res, "/");
    if (!bytes) {
      if (rel === "index.html") return sendText(res, 500, "Studio's web app is not built: run `npm run build` in the arkor package");
      return sendText(res, 404, "Not found");
    }
    const headers = { ...SECURITY_HEADERS, "content-type": CONTENT_TYPES[ext] || "application/octet-stream" };
    if (ext === "html") {
      headers["cache-control"] = "no-store";
      bytes = withToken(bytes.toString("utf8"), token);
    }
    res.writeHead(200, headers);
    res.end(bytes);
  }

  const server = http.createServer(async (req, res) => {
    let url;
    try {
      url = new URL(req.url, "http://studio.invalid");
    } catch {
      return sendText(res, 400, "Bad request");
    }
    const isApi = url.pathname.startsWith("/api/");
    // The DNS-rebinding boundary, for the HTML that carries the token too.
    const refusal = native.studioHostRefusal(req.headers.host ?? null, req.headers.origin ?? null);
    if (refusal !== null) {
      return isApi ? sendJson(res, 403, { error: "Studio API is loopback-only" }) : sendText(res, 403, "Studio is loopback-only");
    }
    try {
      if (isApi) {
        const queryOk = req.method === "GET" && QUERY_TOKEN_PATH.test(url.pathname);
        const provided = req.headers[TOKEN_HEADER] ?? (queryOk ? url.searchParams.get("studioToken") : null);
        if (!tokensMatch(provided, token)) return sendJson(res, 403, { error: "Missing or invalid studio token" });
        return await api({ req, res, url });
      }
      if (req.method !== "GET" && req.method !== "HEAD") return sendText(res, 405, "Method not allowed");
      await serveAsset(res, url.pathname);
    } catch (err) {
      console.error("[studio]", err);
      if (!res.headersSent) sendText(res, 500, "Studio server error");
      else res.end();
    }
  });
  server.children = children;
  return server;
}

module.exports = { createStudioServer, tokensMatch, withToken, ASSETS_DIR };
