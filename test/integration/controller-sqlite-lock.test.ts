// One controller per SQLite data dir: a second `flotilla serve` on the same
// dataDir refuses to start (high availability is PostgreSQL's job), and a
// controller that crashed (SIGKILL) does not lock out the next start.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSigner } from "../../common/src/signing.js";
import { makeTempDir } from "../helpers/tmp.js";
import { makeHostSigners, newFleetRepo, OPERATOR_TOKEN, waitFor } from "./controller/harness.js";

const CHILD = fileURLToPath(new URL("./controller/serve-child.ts", import.meta.url));
let signers: Record<string, HostSigner>;
const procs: ResultPromise[] = [];

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1"]);
});
afterAll(() => {
  for (const p of procs) p.kill("SIGKILL");
});

function serve(config: string) {
  const proc = execa("node", ["--import", "tsx", CHILD, "serve", "--config", config], { reject: false, buffer: false, cwd: process.cwd() });
  procs.push(proc);
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  return {
    proc,
    out: () => out,
    err: () => err,
    listening: () => waitFor(async () => /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? (proc.exitCode !== null ? Promise.reject(new Error(`controller exited ${proc.exitCode}: ${err}`)) : null), "controller to listen", 30_000),
  };
}

describe("SQLite data dir lock", () => {
  it("refuses a second controller on the same data dir, and a crashed one does not lock out the next", async () => {
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }] });
    const dir = await makeTempDir("flotilla-lock-");
    const config = join(dir, "controller.yaml");
    await writeFile(config, stringify({ listen: "127.0.0.1:0", dataDir: join(dir, "data"), fleet: { remotes: [repo.url], pollInterval: "1h" }, auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] } }));

    const first = serve(config);
    const url = await first.listening();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    const second = serve(config);
    const r = await second.proc;
    expect(r.exitCode).toBe(1);
    expect(second.out()).not.toMatch(/listening on/);
    expect(second.err()).toMatch(/another controller is using .*flotilla\.db/);
    expect(second.err()).toMatch(/PostgreSQL/);
    // The first one is unharmed.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // A crash leaves no stale lock: the next start succeeds.
    first.proc.kill("SIGKILL");
    await first.proc;
    const third = serve(config);
    const url3 = await third.listening();
    expect((await fetch(`${url3}/healthz`)).status).toBe(200);
    third.proc.kill("SIGTERM");
    expect((await third.proc).exitCode).toBe(0);
  }, 90_000);
});
