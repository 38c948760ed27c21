/**
 * Signature verification spread over worker threads. ed25519 verification is
 * by far the largest cost of ingest (~60–180 µs per report against ~30 µs for
 * everything else), so large batches are split across one worker per core;
 * small batches are verified inline, where a thread hop would cost more.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { verifyEnvelope } from "../../../common/src/signing.js";
import type { SignedEnvelope } from "../../../schemas/src/api.js";

const INLINE_MAX = 16;

interface Pending {
  resolve: (ok: boolean[]) => void;
  reject: (e: Error) => void;
}

export class VerifierPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private rr = 0;
  /** Set when a worker died: verification falls back to inline rather than hang. */
  private broken = false;

  constructor(size = Math.max(1, availableParallelism())) {
    const fromSource = import.meta.url.endsWith(".ts");
    const url = new URL(`./verifier-worker.${fromSource ? "ts" : "js"}`, import.meta.url);
    for (let i = 0; i < size; i++) {
      // From source (tests, tsx) the worker registers the TypeScript loader first.
      const w = fromSource
        ? new Worker(`import("tsx/esm/api").then((m) => m.register()).then(() => import(${JSON.stringify(url.href)}))`, { eval: true })
        : new Worker(url);
      w.unref();
      w.on("message", (m: { id: number; ok: boolean[] }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        p?.resolve(m.ok);
      });
      w.on("error", (e) => {
        this.broken = true;
        for (const p of this.pending.values()) p.reject(new Error(`signature verifier thread failed: ${e.message}`, { cause: e }));
        this.pending.clear();
      });
      w.on("exit", () => (this.broken = true));
      this.workers.push(w);
    }
  }

  private run(key: string, envelopes: SignedEnvelope[]): Promise<boolean[]> {
    const id = this.nextId++;
    const w = this.workers[this.rr++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, key, envelopes });
    });
  }

  /** One boolean per envelope: does its signature verify against `key`? */
  async verifyAll(key: string, envelopes: SignedEnvelope[]): Promise<boolean[]> {
    if (envelopes.length <= INLINE_MAX || this.workers.length === 0 || this.broken) return envelopes.map((e) => verifyEnvelope(e, key));
    const n = this.workers.length;
    const size = Math.ceil(envelopes.length / n);
    const parts: Promise<boolean[]>[] = [];
    for (let i = 0; i < envelopes.length; i += size) parts.push(this.run(key, envelopes.slice(i, i + size)));
    return (await Promise.all(parts)).flat();
  }

  async close(): Promise<void> {
    this.broken = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
