'use strict';

// Bundling a trainer entry with esbuild, for `arkor build` and for
// `runTrainer` when this Node cannot load the TypeScript entry by itself.
// Relative imports are inlined; bare specifiers (`arkor` and any other
// package) stay imports, so the bundle uses the project's installed copies.

/** The trainer entry of a project, relative to its directory. */
const DEFAULT_ENTRY = 'src/arkor/index.ts';

/** Bundles `entry` into the ES module `outfile`. */
async function bundleEntry(entry, outfile, { logLevel = 'error' } = {}) {
  const { build } = require('esbuild');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel,
  });
}

module.exports = { DEFAULT_ENTRY, bundleEntry };
