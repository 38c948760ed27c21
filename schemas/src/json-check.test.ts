/**
 * json-check (the agent's zod-free validator) against zod, the source of
 * truth: on every fleet file in the repository, every invalid-fleet case,
 * sample protocol messages and thousands of mutations of each, a value the
 * JSON Schema check accepts is one zod accepts and returns unchanged
 * (soundness). Valid files and messages must pass the fast check, or the
 * agent would load zod for them after all (the fast path is used).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { accepts } from "./agent-check.js";
import type { AgentFormat } from "./agent-schemas.generated.js";
import { compile } from "./json-check.js";
import { AGENT_FORMATS, PUBLISHED, renderJsonSchema } from "./registry.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const yamlFile = (p: string): unknown => {
  try {
    return parse(readFileSync(join(ROOT, p), "utf8"), { maxAliasCount: 1000, uniqueKeys: false });
  } catch {
    return undefined; // a YAML-level case (syntax, NUL): nothing for the schema to judge
  }
};

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG3c9m8W3pZ0n6bQ5pE2l1lW0mT0n4mZ7kqkq8m7c0h1 host";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const TIME = "2026-12-02T10:00:00.000Z";

const VALID: Record<AgentFormat, unknown[]> = {
  fleet: [yamlFile("fleet-example/fleet.yaml")],
  "agent-config": [
    { host: "web-1", remotes: ["https://git.example.com/fleet.git"] },
    { host: "web-1", remotes: ["file:///srv/fleet"], controller: "http://127.0.0.1:8080", stateDir: "/var/lib/flotilla", pollInterval: "30s", heartbeatInterval: "1m", logLevel: "debug" },
  ],
  "gate-answer": [{ host: "web-1", rev: SHA, decision: "open", wave: "canary", reason: "open", retryAfterMs: 1000 }],
  nudge: [{ head: SHA, changed: true, gate: true }, { head: null, changed: false }],
  "report-ack": [{ accepted: 3, duplicates: 0, lastSeq: 7 }],
  "api-error": [{ error: "SeqBehind", message: "behind", path: "reports[0].payload.seq", lastSeq: 4 }, { error: "NotFound", message: "x" }],
  "transition-event": [
    { type: "event", host: "web-1", seq: 1, time: TIME, agentVersion: "0.1.0", phase: "done", outcome: "succeeded", reason: "Healthy", rev: SHA, generation: "/nix/store/abc-system", message: "deployed" },
    { type: "event", host: "web-1", seq: 2, time: TIME, agentVersion: "0.1.0", phase: "built", outcome: "failed", reason: "BuildFailed", rev: SHA, generation: null, log: { step: "build", text: "$ nix build (exit 1)\nerror: café ✗", truncated: false } },
  ],
  heartbeat: [{ type: "heartbeat", host: "web-1", seq: 2, time: TIME, agentVersion: "0.1.0", phase: "idle", currentRev: SHA, currentGeneration: null, targetRev: null, healthy: null, queueLength: 0 }],
  release: [],
  "reboot-lease-answer": [{ host: "web-1", granted: true, reason: "granted", expiresAt: TIME }, { host: "web-1", granted: false, reason: "1 of 1 held", expiresAt: null, retryAfterMs: 5000 }],
  "signed-release": [{ v: 1, alg: "ssh-ed25519", key: KEY, payload: "{}", sig: "A".repeat(86) + "==" }],
};
// Every fleet file the tests and the demo commit is valid input too.
for (const f of readdirSync(join(ROOT, "test/invalid-fleets"))) {
  const v = f.endsWith(".yaml") ? yamlFile(join("test/invalid-fleets", f)) : undefined;
  if (v !== undefined) VALID.fleet.push(v);
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ODD_VALUES: unknown[] = [
  null, "", " ", "x", " http://a ", "http://a\n", "ftp://x", "http:x", "https://ok.example/", "0", "1000d", "25d", "90s", "-1", "..", ".", ".flotilla",
  "/a//b", "/a/../b", "a\nb", "-unit", "(a+)+", "\\1", "[", 0, -1, 1.5, 1e21, Infinity, NaN, true, [], {}, [""], SHA, SHA.toUpperCase(), KEY, TIME, "2026-13-01T00:00:00Z",
  "ZZZ", "tag:web", "100%", "101%", "*", "nixos", "legacy", "substitute",
];

/** Random mutations of `v`: one change at a random place. */
function mutate(v: unknown, r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  if (Array.isArray(v)) {
    const out = [...v];
    const roll = r();
    if (out.length && roll < 0.5) out[Math.floor(r() * out.length)] = mutate(out[Math.floor(r() * out.length)], r);
    else if (out.length && roll < 0.65) out.splice(Math.floor(r() * out.length), 1);
    else if (out.length && roll < 0.8) out.push(out[0]);
    else if (roll < 0.9) return pick(ODD_VALUES);
    else out.push(pick(ODD_VALUES));
    return out;
  }
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(out);
    const roll = r();
    if (keys.length && roll < 0.6) {
      const k = pick(keys);
      out[k] = mutate(out[k], r);
    } else if (keys.length && roll < 0.75) delete out[pick(keys)];
    else if (roll < 0.85) out[pick(["extra", "Name", "hostkey", "__proto__x", "kind", "version"])] = pick(ODD_VALUES);
    else return pick(ODD_VALUES);
    return out;
  }
  return pick(ODD_VALUES);
}

describe("json-check against zod", () => {
  for (const format of AGENT_FORMATS) {
    const zod = PUBLISHED[format]!;
    it(`${format}: compiles, and every value it accepts zod accepts unchanged (mutations of the samples)`, () => {
      const check = compile(JSON.parse(renderJsonSchema(format, zod)));
      const r = rng(0x5eed + format.length);
      let accepted = 0;
      let tried = 0;
      const samples = VALID[format].length ? VALID[format] : [{}];
      for (const sample of samples) {
        let cur = sample;
        for (let i = 0; i < 400; i++) {
          cur = r() < 0.3 ? sample : cur;
          const m = mutate(cur, r);
          tried++;
          if (!check(m)) continue;
          accepted++;
          const z = zod.safeParse(m);
          expect(z.success, `${format}: json-check accepted what zod refuses: ${JSON.stringify(m).slice(0, 400)}\n${z.success ? "" : z.error.message.slice(0, 400)}`).toBe(true);
          expect(z.data, `${format}: zod rewrote a value json-check accepted`).toEqual(m);
          cur = m;
        }
      }
      expect(tried).toBeGreaterThan(0);
      if (VALID[format].length) expect(accepted, `${format}: some mutations should stay valid`).toBeGreaterThan(0);
    });
    it(`${format}: every valid sample passes the fast check`, () => {
      for (const v of VALID[format]) {
        const z = zod.safeParse(v);
        if (!z.success) continue; // an invalid-fleet case zod refuses: json-check must refuse it too
        expect(accepts(format, v), `${format}: zod accepts but json-check refuses ${JSON.stringify(v).slice(0, 300)}`).toBe(true);
      }
      for (const v of VALID[format]) if (!zod.safeParse(v).success) expect(accepts(format, v)).toBe(false);
    });
  }

  it("refuses keywords it does not understand, rather than ignoring them", () => {
    expect(() => compile({ type: "string", contentEncoding: "base64" })).toThrow(/unsupported keyword/);
    expect(() => compile({ type: "string", format: "email" })).toThrow(/format/);
    expect(() => compile({ "x-flotilla-check": { name: "nope" } })).toThrow(/unknown check/);
  });
});
