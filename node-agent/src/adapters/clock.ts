/** Wall clock and abortable sleep; tests use a manual clock instead. */
import type { Clock } from "../ports.js";
import { timerDelay } from "../../../schemas/src/duration.js";

export const systemClock: Clock = {
  now: () => new Date(),
  random: () => Math.random(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const t = setTimeout(done, timerDelay(ms));
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};
