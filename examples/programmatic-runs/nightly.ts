// Recipe: docs/cookbook/programmatic-runs.mdx (scripts/nightly.ts)
import { runTrainer } from "arkor";

const dateTag = new Date().toISOString().slice(0, 10);
process.env.RUN_LABEL = `nightly-${dateTag}`;

await runTrainer();
