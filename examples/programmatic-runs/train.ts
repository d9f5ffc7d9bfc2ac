// Recipe: docs/cookbook/programmatic-runs.mdx (scripts/train.ts): fail CI on a
// failed run by inspecting the terminal status.
import { trainer } from "./trainer";

const { jobId } = await trainer.start();
console.log(`Started ${jobId}`);

try {
  const result = await trainer.wait();
  if (result.job.status === "completed") {
    process.exit(0);
  }
  console.error(`status=${result.job.status}: ${result.job.error ?? "no error message"}`);
  process.exit(1);
} catch (err) {
  // wait() rejected instead of resolving with a terminal status: abortSignal
  // aborted, reconnect attempts exhausted, or a thrown lifecycle callback
  // (which can fire even after the backend reached a terminal state). Treat
  // as a CI failure too.
  console.error("wait() threw:", err);
  process.exit(1);
}
