/**
 * The on-disk outbox of signed reports (<stateDir>/outbox/). One file per
 * message, named by its zero-padded seq, so the directory listing is the
 * delivery order. Sequence numbers are allocated durably (the seq file is
 * fsynced before the message is written), so they only ever grow, across
 * crashes too. Bounded: heartbeats beyond `maxHeartbeats` are dropped oldest
 * first; transition events are never dropped (past `maxEvents` the agent
 * logs an error on every append instead).
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { SignedEnvelope } from "../../../schemas/src/api.js";
import type { Logger } from "../../../common/src/log.js";
import { writeFileAtomic } from "./state-file.js";

export type Kind = "e" | "h";
interface Entry {
  seq: number;
  kind: Kind;
  file: string;
}

const NAME = /^(\d{12})-([eh])\.json$/;

export class Outbox {
  private entries: Entry[] = [];
  private lastSeq = 0;
  private readonly seqFile: string;
  /**
   * Every mutation runs on this chain, one after the other: the daemon's
   * heartbeat timer appends while the loop appends events, and two appends
   * interleaving would allocate the same seq.
   */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly o: { maxEvents: number; maxHeartbeats: number; log: Logger },
  ) {
    this.seqFile = join(dir, "seq");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      const m = NAME.exec(name);
      if (m) this.entries.push({ seq: Number(m[1]), kind: m[2] as Kind, file: join(dir, name) });
    }
    this.entries.sort((a, b) => a.seq - b.seq);
    let fromFile = 0;
    try {
      fromFile = Number(readFileSync(this.seqFile, "utf8").trim()) || 0;
    } catch {
      fromFile = 0;
    }
    this.lastSeq = Math.max(fromFile, this.entries.at(-1)?.seq ?? 0);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Reports in `rejected/` (set aside, kept for an operator). */
  setAsideCount(): number {
    try {
      return readdirSync(join(this.dir, "rejected")).filter((n) => NAME.test(n)).length;
    } catch {
      return 0;
    }
  }

  counts(): { events: number; heartbeats: number } {
    const events = this.entries.filter((e) => e.kind === "e").length;
    return { events, heartbeats: this.entries.length - events };
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.tail.then(step, step);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Allocates the next seq durably, builds the envelope for it, and stores it. */
  append(kind: Kind, build: (seq: number) => SignedEnvelope): Promise<number> {
    return this.serial(() => this.appendNow(kind, build));
  }

  private async appendNow(kind: Kind, build: (seq: number) => SignedEnvelope): Promise<number> {
    const seq = this.lastSeq + 1;
    await writeFileAtomic(this.seqFile, `${seq}\n`);
    this.lastSeq = seq;
    const env = build(seq);
    const file = join(this.dir, `${String(seq).padStart(12, "0")}-${kind}.json`);
    if (kind === "e") {
      await writeFileAtomic(file, JSON.stringify(env));
      const { events } = this.counts();
      if (events >= this.o.maxEvents) {
        this.o.log.error("report queue holds more transition events than queue.maxEvents; they are never dropped", { events: events + 1, max: this.o.maxEvents });
      }
    } else {
      // Heartbeats may be lost; no fsync needed.
      await writeFile(file, JSON.stringify(env), { mode: 0o600 });
      const hb = this.entries.filter((e) => e.kind === "h");
      for (const old of hb.slice(0, Math.max(0, hb.length + 1 - this.o.maxHeartbeats))) await this.remove(old);
    }
    this.entries.push({ seq, kind, file });
    return seq;
  }

  /** The oldest `n` messages, in seq order. */
  peek(n: number): Promise<Array<{ seq: number; envelope: SignedEnvelope }>> {
    return this.serial(() => this.peekNow(n));
  }

  private async peekNow(n: number): Promise<Array<{ seq: number; envelope: SignedEnvelope }>> {
    const out: Array<{ seq: number; envelope: SignedEnvelope }> = [];
    for (const e of this.entries.slice(0, n)) {
      try {
        out.push({ seq: e.seq, envelope: JSON.parse(await readFile(e.file, "utf8")) as SignedEnvelope });
      } catch (err) {
        this.o.log.error("dropping an unreadable queued report", { file: e.file, error: (err as Error).message });
        await this.remove(e);
      }
    }
    return out;
  }

  /** Drops every message with seq ≤ `seq` (the controller acknowledged them). */
  ack(seq: number): Promise<number> {
    return this.serial(() => this.ackNow(seq));
  }

  private async ackNow(seq: number): Promise<number> {
    const done = this.entries.filter((e) => e.seq <= seq);
    for (const e of done) await this.remove(e);
    return done.length;
  }

  /**
   * Moves one report the controller will never accept (e.g. older than its
   * replay window) to `<dir>/rejected/`, so the rest of the queue flows. Kept,
   * not deleted: an operator can still read it.
   */
  setAside(seq: number, why: string): Promise<boolean> {
    return this.serial(async () => {
      const e = this.entries.find((x) => x.seq === seq);
      if (!e) return false;
      const rejected = join(this.dir, "rejected");
      await mkdir(rejected, { recursive: true, mode: 0o700 });
      await rename(e.file, join(rejected, e.file.slice(e.file.lastIndexOf("/") + 1)));
      await writeFile(join(rejected, `${String(seq).padStart(12, "0")}.reason`), why + "\n", { mode: 0o600 });
      this.entries = this.entries.filter((x) => x !== e);
      this.o.log.error("the controller will never accept a queued report; set aside", { seq, reason: why, dir: rejected });
      return true;
    });
  }

  /**
   * Rewrites queued messages in place, under the same seq and file name
   * (atomically, fsynced): re-signed with a new host key, re-timed after a
   * clock-skew refusal, or with oversized fields truncated. `seqs` null means
   * every queued message; `fix` returns null to leave one as it is. Returns
   * how many changed.
   */
  rewrite(seqs: readonly number[] | null, fix: (env: SignedEnvelope, seq: number) => SignedEnvelope | null): Promise<number> {
    return this.serial(async () => {
      const wanted = seqs ? new Set(seqs) : null;
      let changed = 0;
      for (const e of this.entries) {
        if (wanted && !wanted.has(e.seq)) continue;
        let env: SignedEnvelope;
        try {
          env = JSON.parse(await readFile(e.file, "utf8")) as SignedEnvelope;
        } catch {
          continue; // peek drops (and logs) unreadable ones
        }
        const next = fix(env, e.seq);
        if (!next) continue;
        await writeFileAtomic(e.file, JSON.stringify(next));
        changed++;
      }
      return changed;
    });
  }

  /**
   * Renumbers every queued message above `stored` (the controller's last seq
   * for this host), re-signing each: the agent's counter fell behind because
   * its state dir was wiped or restored. The new seq is allocated durably
   * first; messages are renamed from the last to the first, so a crash half
   * way leaves them still sorted in their original order, and a second rebase
   * finishes the job.
   */
  rebase(stored: number, resign: (env: SignedEnvelope, seq: number) => SignedEnvelope): Promise<number> {
    return this.serial(async () => {
      const base = Math.max(stored, this.lastSeq, this.entries.at(-1)?.seq ?? 0);
      const n = this.entries.length;
      await writeFileAtomic(this.seqFile, `${base + n}\n`);
      this.lastSeq = base + n;
      for (let i = n - 1; i >= 0; i--) {
        const e = this.entries[i]!;
        const seq = base + 1 + i;
        const env = resign(JSON.parse(await readFile(e.file, "utf8")) as SignedEnvelope, seq);
        const file = join(this.dir, `${String(seq).padStart(12, "0")}-${e.kind}.json`);
        await writeFileAtomic(file, JSON.stringify(env));
        await rm(e.file, { force: true });
        this.entries[i] = { seq, kind: e.kind, file };
      }
      this.o.log.warn("report seq was behind the controller's; queue renumbered above it", { stored, from: base + 1, to: base + n });
      return n;
    });
  }

  private async remove(e: Entry): Promise<void> {
    await rm(e.file, { force: true });
    this.entries = this.entries.filter((x) => x !== e);
  }
}
