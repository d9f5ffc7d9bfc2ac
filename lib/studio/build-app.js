"use strict";

// Builds Studio's web app (lib/studio/app, TypeScript + Preact) into
// lib/studio/dist with esbuild: one script, one stylesheet, index.html.
// Everything it needs is bundled; nothing is fetched at run time.
// Run by `npm install` / `npm run build` (postinstall, postbuild), and by
// `arkor dev` when the bundle is missing.

const { existsSync } = require("node:fs");
const { copyFile, mkdir, rm } = require("node:fs/promises");
const path = require("node:path");

const APP_DIR = path.join(__dirname, "app");
const DIST_DIR = path.join(__dirname, "dist");

/** Bundles the app into `outDir` (default lib/studio/dist). */
async function buildStudioApp({ outDir = DIST_DIR, minify = true } = {}) {
  const { build } = require("esbuild");
  await rm(outDir, { recursive: true, force: true });
  await mkdir(path.join(outDir, "assets"), { recursive: true });
  await build({
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
  });
  await copyFile(path.join(APP_DIR, "index.html"), path.join(outDir, "index.html"));
  return outDir;
}

/** Builds the app unless lib/studio/dist already holds it. */
async function ensureStudioApp() {
  if (existsSync(path.join(DIST_DIR, "index.html")) && existsSync(path.join(DIST_DIR, "assets", "main.js"))) return;
  process.stderr.write("Building Studio's web app...\n");
  await buildStudioApp();
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
