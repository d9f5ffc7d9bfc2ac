"use strict";

// Builds Studio's web app (lib/studio/app, TypeScript + Preact) into
// lib/studio/dist with esbuild: one script, one stylesheet, index.html.
// Everything it needs is bundled; nothing is fetched at run time.
// Run by `npm install` / `npm run build` (postinstall, postbuild), and by
// `arkor dev` when the bundle is missing.

const { existsSync, readdirSync, statSync } = require("node:fs");
const { mkdir, readFile, rename, writeFile } = require("node:fs/promises");
const path = require("node:path");

const APP_DIR = path.join(__dirname, "app");
const DIST_DIR = path.join(__dirname, "dist");

/** Writes `bytes` to `file` through a temporary name, so a reader never sees half of it. */
async function writeAtomic(file, bytes) {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, file);
}

/**
 * Bundles the app into `outDir` (default lib/studio/dist). Each file is
 * replaced whole: an `arkor dev` serving from there meanwhile (a project's
 * `npm install` rebuilding a linked checkout) never sees a missing file.
 */
async function buildStudioApp({ outDir = DIST_DIR, minify = true } = {}) {
  const { build } = require("esbuild");
  await mkdir(path.join(outDir, "assets"), { recursive: true });
  const result = await build({
    entryPoints: { main: path.join(APP_DIR, "main.tsx") },
    outdir: path.join(outDir, "assets"),
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    jsxImportSource: "preact",
    minify,
    sourcemap: false,
    legalComments: "none",
    logLevel: "error",
    write: false,
  });
  for (const f of result.outputFiles) await writeAtomic(f.path, f.contents);
  await writeAtomic(path.join(outDir, "index.html"), await readFile(path.join(APP_DIR, "index.html")));
  return outDir;
}

/** The newest modification time of the app's sources. */
function newestSource(dir = APP_DIR) {
  let m = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    m = Math.max(m, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return m;
}

/** Builds the app unless lib/studio/dist holds a build of the current sources. */
async function ensureStudioApp() {
  const built = [path.join(DIST_DIR, "index.html"), path.join(DIST_DIR, "assets", "main.js")];
  const present = built.every(existsSync);
  if (present && Math.min(...built.map((f) => statSync(f).mtimeMs)) >= newestSource()) return;
  process.stderr.write("Building Studio's web app...\n");
  try {
    await buildStudioApp();
  } catch (err) {
    // An older build still serves (a read-only install, say).
    if (!present) throw err;
    process.stderr.write(`Could not rebuild Studio's web app (${err.message}); serving the existing build.\n`);
  }
}

module.exports = { buildStudioApp, ensureStudioApp, APP_DIR, DIST_DIR };

if (require.main === module) {
  buildStudioApp().then(
    (dir) => process.stdout.write(`Built Studio's web app → ${path.relative(process.cwd(), dir) || dir}\n`),
    (err) => {
      process.stderr.write(`${err.stack || err}\n`);
      process.exitCode = 1;
    },
  );
}
