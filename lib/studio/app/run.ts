// The Run training stream, kept outside the Overview page: moving to
// another page of Studio does not close it (which would kill the
// `arkor start` it feeds from); closing the tab does.
import { useEffect, useState } from "preact/hooks";

import { streamTraining } from "./api";

export interface RunState {
  output: string;
  running: boolean;
  /** The exit code once the run ended (`null`: none reported); undefined before. */
  exit?: number | null;
  error: string | null;
}

let state: RunState = { output: "", running: false, error: null };
const listeners = new Set<(s: RunState) => void>();
const set = (patch: Partial<RunState>) => {
  state = { ...state, ...patch };
  for (const l of listeners) l(state);
};

/** The current run, re-rendering on each change. */
export function useRun(): RunState {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => void listeners.delete(setS);
  }, []);
  return s;
}

/** Starts `arkor start` through /api/train, unless a run is going. */
export async function startRun(): Promise<void> {
  if (state.running) return;
  set({ output: "", running: true, exit: undefined, error: null });
  try {
    const exit = await streamTraining((t) => set({ output: state.output + t }));
    set({ exit });
  } catch (e) {
    set({ error: (e as Error).message });
  } finally {
    set({ running: false });
  }
}
