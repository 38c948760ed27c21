/**
 * `flotilla status --watch`: polls the controller's status every interval and
 * shows the current rollout's progress. On a terminal the screen is redrawn
 * in place; on a pipe a line is printed only when something changed (states,
 * counts), so a log of it reads as a history. A controller that cannot be
 * reached or answers an error is shown (once per distinct error on a pipe)
 * and asked again at the next interval. Ends, exit 0, when `signal` aborts
 * (Ctrl-C).
 */
import type { StatusReport } from "../../../schemas/src/api.js";
import { progressKey, progressLine, renderProgress } from "../report/render-progress.js";
import { absoluteTime } from "../report/time.js";
import { visible } from "../report/visible.js";
import { describeError } from "./args.js";

export interface WatchOptions {
  fetchStatus: () => Promise<StatusReport>;
  out: NodeJS.WritableStream;
  tty: boolean;
  width: () => number;
  intervalMs: number;
  signal: AbortSignal;
}

const CLEAR = "\x1b[H\x1b[2J";

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export async function watchStatus(o: WatchOptions): Promise<void> {
  let lastKey: string | null = null;
  let lastError: string | null = null;
  let last: StatusReport | null = null;
  while (!o.signal.aborted) {
    try {
      const s = await o.fetchStatus();
      if (o.signal.aborted) break;
      last = s;
      lastError = null;
      if (o.tty) o.out.write(CLEAR + renderProgress(s, { width: o.width() }));
      else {
        const key = progressKey(s);
        if (key !== lastKey) o.out.write(progressLine(s) + "\n");
        lastKey = key;
      }
    } catch (e) {
      if (o.signal.aborted) break;
      const msg = visible(describeError(e));
      const retry = `retrying in ${Number((o.intervalMs / 1000).toFixed(1))} s`;
      if (o.tty) o.out.write(CLEAR + (last ? renderProgress(last, { width: o.width() }) + "\n" : "") + `${absoluteTime(Date.now())} error: ${msg} (${retry})\n`);
      else if (msg !== lastError) o.out.write(`${absoluteTime(Date.now())} error: ${msg} (${retry})\n`);
      lastError = msg;
      lastKey = null; // after an error, the next answer is printed again
    }
    await sleep(o.intervalMs, o.signal);
  }
}
