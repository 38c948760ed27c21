// The operator CLI for tests: the real bin/flotilla.js on the dist/ that
// test/global-setup.ts builds once before any test file runs.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Cli {
  /** Path of bin/flotilla.js. */
  bin: string;
  run(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** Nothing to delete: the build is shared. */
  cleanup(): Promise<void>;
}

export async function buildCli(): Promise<Cli> {
  const bin = join(REPO_ROOT, "bin", "flotilla.js");
  if (!existsSync(join(REPO_ROOT, "dist", "controller", "src", "cli.js"))) {
    throw new Error("dist/controller/src/cli.js is missing: the vitest globalSetup (test/global-setup.ts) builds it");
  }
  return {
    bin,
    async run(args, opts = {}) {
      const r = await execa(process.execPath, [bin, ...args], { cwd: opts.cwd ?? REPO_ROOT, reject: false, env: opts.env });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    cleanup: async () => {},
  };
}
