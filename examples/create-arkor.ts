// Recipe: docs/sdk/create-arkor.mdx
import { createArkor, isArkor } from "arkor";
import { trainer } from "./create-trainer";

export const arkor = createArkor({ trainer });

// `isArkor` narrows an unknown value (e.g. a dynamically imported module
// export) to the manifest type.
export function trainerOf(value: unknown) {
  if (isArkor(value)) {
    // value: Arkor
    return value.trainer;
  }
  return undefined;
}
