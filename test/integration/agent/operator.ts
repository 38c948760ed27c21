// Helpers shared by the end-to-end tests that drive real agents as an
// operator would: the operator CLI against a running controller, an upstream
// a health check depends on (taken down and brought back without touching the
// host), and a shared fake clock for agents under libfaketime.
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { expect } from "vitest";
import { makeTempDir } from "../../helpers/tmp.js";
import { flotillaAt } from "../controller/cli.js";

/** `flotilla …` (the real CLI's main) against `controllerUrl` with the operator token; expects exit 0 and no stderr; returns stdout. */
export function operatorCli(controllerUrl: string): (...args: string[]) => Promise<string> {
  const flotilla = flotillaAt(controllerUrl);
  return async (...args: string[]) => {
    const { code, out, err } = await flotilla(...args);
    expect({ code, err }, out).toEqual({ code: 0, err: "" });
    return out;
  };
}

/** A dependency of a host's health check: answers 200 when `up`, 503 otherwise. */
export async function upstream(): Promise<{ url: string; up: boolean; server: Server }> {
  const state = { up: false, url: "", server: null as unknown as Server };
  state.server = createServer((_req, res) => res.writeHead(state.up ? 200 : 503).end(state.up ? "ok\n" : "down\n"));
  await new Promise<void>((r) => state.server.listen(0, "127.0.0.1", r));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/`;
  return state;
}

export const FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/**
 * One clock offset shared by agents (libfaketime reads it from a file, env in
 * `env`) and the controller (`now`, injected). `set(ms)` moves every clock.
 */
export async function fakeClock(offsetMs: number): Promise<{ env: Record<string, string>; now: () => number; offset: () => number; set: (ms: number) => Promise<void> }> {
  if (!existsSync(FAKETIME_LIB)) throw new Error(`${FAKETIME_LIB} is missing: install the Debian package "faketime"`);
  const file = join(await makeTempDir("flotilla-clock-"), "faketime");
  let offset = offsetMs;
  const set = async (ms: number) => {
    offset = ms;
    await writeFile(file, `+${Math.round(ms / 1000)}\n`);
  };
  await set(offsetMs);
  return {
    env: { LD_PRELOAD: FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_CACHE_DURATION: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" },
    now: () => Date.now() + offset,
    offset: () => offset,
    set,
  };
}
