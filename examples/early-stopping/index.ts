// Recipe: docs/cookbook/early-stopping.mdx (src/arkor/index.ts)
import { createArkor } from "arkor";
import { makeTrainer } from "./trainer";

const { trainer, controller } = makeTrainer();
export const arkor = createArkor({ trainer });

// If you want to run training outside the CLI:
export async function main() {
  try {
    await trainer.wait();
  } catch (err) {
    if (controller.signal.aborted) {
      // wait() rejected because we aborted locally. Now stop the run on
      // the backend so the GPU does not keep churning.
      try {
        await trainer.cancel();
      } catch {
        // best effort; cancel may reject if the job already finished
      }
      return;
    }
    throw err;
  }
}
