// The operator CLI (`flotilla …`) run in this process through its main(),
// its output captured, as the integration tests call it against a real
// controller. Where a test needs the CLI as its own process (signals, a
// pipe), it spawns bin/flotilla.js instead.
import { Writable } from "node:stream";
import { main } from "../../../controller/src/cli.js";
import { OPERATOR_TOKEN } from "./harness.js";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** A stream that hands every chunk to `f` as it is written (nothing left in a buffer when main returns). */
function sink(f: (s: string) => void): Writable {
  return new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) });
}

/**
 * `flotilla <args>`; `env` is set on process.env for the call only. COLUMNS
 * is unset unless `env` gives it, so that text tables do not follow the
 * width of the terminal the tests run in.
 */
export async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  let out = "";
  let err = "";
  const saved = { ...process.env };
  Object.assign(process.env, env);
  if (!("COLUMNS" in env)) delete process.env.COLUMNS;
  try {
    const code = await main(args, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), cwd: process.cwd() });
    return { code, out, err };
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    if (saved.COLUMNS !== undefined) process.env.COLUMNS = saved.COLUMNS;
  }
}

/** `flotilla <args> --controller URL --token <the operator's>`. */
export function flotillaAt(controllerUrl: string): (...args: string[]) => Promise<CliResult> {
  return (...args) => cli([...args, "--controller", controllerUrl, "--token", OPERATOR_TOKEN]);
}
