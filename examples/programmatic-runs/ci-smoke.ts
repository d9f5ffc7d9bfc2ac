// Recipe: docs/cookbook/programmatic-runs.mdx (scripts/ci-smoke.ts)
import { runTrainer } from "arkor";

if (process.env.CI) {
  process.env.ARKOR_SMOKE = "1";
}
await runTrainer();
