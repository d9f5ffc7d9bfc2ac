// Small shared pieces: status badge, cards, copy button, time.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";

import type { JobStatus } from "../api";

export function StatusBadge({ status }: { status: JobStatus | string }) {
  return <span class={`badge status-${status}`} data-status={status}>{status}</span>;
}

export function Card({ title, actions, children, testid }: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; testid?: string }) {
  return (
    <section class="card" data-testid={testid}>
      {(title || actions) && (
        <div class="card-head">
          <h2>{title}</h2>
          <div class="card-actions">{actions}</div>
        </div>
      )}
      <div class="card-body">{children}</div>
    </section>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard refused (no permission): select-and-copy still works on the <pre>.
      return;
    }
    setDone(true);
    setTimeout(() => setDone(false), 1200);
  };
  return (
    <button type="button" class="btn small" onClick={copy}>
      {done ? "Copied" : label}
    </button>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? <p class="error-note" role="alert">{error}</p> : null;
}

export const when = (iso?: string | null) => (iso ? new Date(iso).toLocaleString() : "");
