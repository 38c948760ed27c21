/**
 * When to self-update: a cron task (cron-task.ts) for `agent.selfUpdate.schedule` of
 * the fleet file at the trusted head, with `noOverlap` and a random
 * delay (`randomDelay`), so a fleet does not stampede its
 * controller or its binary cache at the same second (Flux jitters for the
 * same reason).
 *
 * The cron callback does not update anything: it marks the update as due and
 * stays pending until the maintenance task, which runs only between deploy
 * cycles, has run it (`finish`). So an update never runs inside a deploy
 * cycle, and noOverlap drops ticks while one is due or running.
 *
 * `sync` is called with the spec read at each maintenance run; a changed
 * schedule or delay replaces the cron task, a removed spec stops it.
 */
import { parseCron } from "../../../common/src/cron.js";
import type { Logger } from "../../../common/src/log.js";
import { scheduleCron, type CronTask } from "./cron-task.js";
import type { SelfUpdateSpec } from "./types.js";

export interface Cron {
  schedule: typeof scheduleCron;
}

export class SelfUpdateSchedule {
  private task: CronTask | null = null;
  private key: string | null = null;
  private current: SelfUpdateSpec | null = null;
  private release: (() => void) | null = null;

  constructor(private readonly o: { log: Logger; cron?: Cron }) {}

  /** The spec in force, or null when self-update is off. */
  spec(): SelfUpdateSpec | null {
    return this.current;
  }

  /** True while a scheduled run waits for the maintenance task. */
  due(): boolean {
    return this.release !== null;
  }

  sync(spec: SelfUpdateSpec | null | undefined): void {
    this.current = spec ?? null;
    const key = spec ? `${spec.schedule}|${spec.randomDelayMs}` : null;
    if (key === this.key) return;
    this.stop();
    this.key = key;
    if (!spec) return;
    const log = this.o.log;
    const parsed = parseCron(spec.schedule);
    if (!parsed.ok) {
      // The fleet loader rejects such a fleet file; a spec that reaches here anyway is not run.
      log.warn("self-update schedule is invalid; not scheduled", { schedule: spec.schedule, error: parsed.error });
      return;
    }
    this.task = (this.o.cron?.schedule ?? scheduleCron)(
      parsed.spec,
      () =>
        new Promise<void>((resolve) => {
          log.debug("self-update due");
          this.release = resolve;
        }),
      { noOverlap: true, maxRandomDelayMs: spec.randomDelayMs, onError: (e: unknown) => log.warn("self-update tick failed", { error: (e as Error).message }) },
    );
    log.info("self-update scheduled", { schedule: spec.schedule, randomDelayMs: spec.randomDelayMs });
  }

  /** The due run is over (done, skipped or failed): the next tick may fire. */
  finish(): void {
    const r = this.release;
    this.release = null;
    r?.();
  }

  stop(): void {
    this.finish();
    this.task?.destroy();
    this.task = null;
    this.key = null;
  }
}
