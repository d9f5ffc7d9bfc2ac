"use strict";

// The project manifest (`createArkor`) and its type guard (`isArkor`).
//
// A manifest is a frozen plain object tagged `_kind: "arkor"` that carries
// the project's trainer; `runTrainer` and the CLI look for it in a project's
// entry module.

const KIND = "arkor";

/**
 * Build the frozen manifest `{ _kind: "arkor", trainer }`. The `trainer` key
 * is always present, `undefined` when the input has none (such a manifest
 * cannot be run by `runTrainer`).
 */
function createArkor(input) {
  return Object.freeze({ _kind: KIND, trainer: input.trainer });
}

/** True for any non-null object whose `_kind` is `"arkor"`. */
function isArkor(value) {
  return typeof value === "object" && value !== null && value._kind === KIND;
}

module.exports = { createArkor, isArkor };
