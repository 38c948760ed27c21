/**
 * A cron task: runs `fn` at each time a cron expression matches (local time),
 * each run delayed by a random 0..maxRandomDelayMs so a fleet does not
 * stampede its cache at the same second. With noOverlap a tick is dropped
 * while the previous run is still pending. Timers are unref'd: a scheduled
 * update never keeps the process alive (exit 75 must not wait for it). The
 * next time is recomputed after every tick, so a clock step or a suspend
 * does not replay missed ticks.
 */
import { nextMatch, type CronSpec } from "../../../common/src/cron.js";
import { timerDelay } from "../../../schemas/src/duration.js";

export interface CronTaskOptions {
  noOverlap: boolean;
  maxRandomDelayMs: number;
  onError?: (e: unknown) => void;
  now?: () => Date;
  random?: () => number;
}

export interface CronTask {
  destroy(): void;
}

export function scheduleCron(spec: CronSpec, fn: () => Promise<unknown>, o: CronTaskOptions): CronTask {
  const now = o.now ?? (() => new Date());
  const random = o.random ?? Math.random;
  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const arm = (target: Date) => {
    if (stopped) return;
    const wait = target.getTime() - now().getTime();
    // Longer than a timer can wait: wake at the limit and arm again.
    timer = setTimeout(() => (wait > timerDelay(wait) ? arm(target) : fire()), timerDelay(wait));
    timer.unref();
  };
  const fire = () => {
    armNext();
    if (o.noOverlap && running) return;
    running = true;
    void fn()
      .catch((e) => o.onError?.(e))
      .finally(() => (running = false));
  };
  const armNext = () => {
    const next = nextMatch(spec, now());
    if (!next) return;
    const delay = o.maxRandomDelayMs > 0 ? Math.floor(random() * o.maxRandomDelayMs) : 0;
    arm(new Date(next.getTime() + delay));
  };
  armNext();
  return {
    destroy() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
