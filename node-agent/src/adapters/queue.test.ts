import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import type { SignedEnvelope } from "../../../schemas/src/api.js";
import { Outbox } from "./queue.js";

const env = (seq: number): SignedEnvelope => ({ v: 1, host: "h", alg: "ssh-ed25519", payload: JSON.stringify({ seq }), sig: "A".repeat(86) + "==" });

describe("on-disk report queue", () => {
  it("keeps seq growing across restarts and acks, drops old heartbeats, never events", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "flotilla-outbox-")), "outbox");
    const log = memoryLogger();
    let q = new Outbox(dir, { maxEvents: 10, maxHeartbeats: 2, log });
    expect(await q.append("e", env)).toBe(1);
    for (let i = 0; i < 4; i++) await q.append("h", env);
    expect(await q.append("e", env)).toBe(6);
    expect(q.counts()).toEqual({ events: 2, heartbeats: 2 });
    expect((await q.peek(10)).map((m) => m.seq)).toEqual([1, 4, 5, 6]);

    expect(await q.ack(5)).toBe(3);
    q = new Outbox(dir, { maxEvents: 10, maxHeartbeats: 2, log }); // a restart
    expect(q.length).toBe(1);
    expect(await q.ack(6)).toBe(1);
    q = new Outbox(dir, { maxEvents: 10, maxHeartbeats: 2, log });
    expect(await q.append("e", env)).toBe(7); // never reuses a seq, even with an empty queue

    for (let i = 0; i < 12; i++) await q.append("e", env);
    expect(q.counts().events).toBe(13);
    expect(log.lines.some((l) => /never dropped/.test(l))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith("-e.json"))).toHaveLength(13);
  });

  it("gives concurrent appends (heartbeat timer vs. the loop) distinct seqs and loses none", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "flotilla-outbox-")), "outbox");
    const q = new Outbox(dir, { maxEvents: 1000, maxHeartbeats: 1000, log: memoryLogger() });
    const seqs = await Promise.all(Array.from({ length: 40 }, (_, i) => q.append(i % 3 === 0 ? "h" : "e", env)));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toHaveLength(40);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    const [acked, peeked] = await Promise.all([q.ack(20), q.peek(100)]);
    expect(acked).toBe(20);
    expect(peeked.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 21));
  });
});
