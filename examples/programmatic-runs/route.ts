// Recipe: docs/cookbook/programmatic-runs.mdx (app/api/train/route.ts), with
// the Next.js response helper replaced by a plain `Response` so the file
// needs nothing beyond `arkor`.
import { makeTrainer } from "./trainer";

export async function POST() {
  const trainer = makeTrainer();
  const { jobId } = await trainer.start();
  // Drive wait() in the background. The .catch only fires on transport-
  // level errors (abort, reconnect exhausted) or a thrown lifecycle
  // callback; a `training.failed` terminal state resolves wait() normally
  // with `result.job.status` set to "failed".
  void trainer.wait().catch((err) => {
    console.error("wait() threw:", err);
  });
  return Response.json({ jobId });
}
