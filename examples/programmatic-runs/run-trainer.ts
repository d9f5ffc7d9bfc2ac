// Recipe: docs/cookbook/programmatic-runs.mdx, shape 1 (`runTrainer`).
import { runTrainer } from "arkor";

await runTrainer();                          // imports src/arkor/index.ts
await runTrainer("src/arkor/alt.ts");        // explicit source entry
await runTrainer(".arkor/build/index.mjs");  // explicit built artifact
