// A private build of the operator CLI for tests: tsc into
// node_modules/.cache/flotilla-cli-test/<pid>-<n>/dist with bin/flotilla.js copied
// beside it, so the real bin runs without racing other test files that may
// rebuild dist/ at the same time. node_modules is still found by walking up.
import { copyFile, mkdir, rm } from "node:fs/promises";
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
  /** Path of the copied bin/flotilla.js. */
  bin: string;
  run(args: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<CliResult>;
  /** Deletes the private build. */
  cleanup(): Promise<void>;
}

let builds = 0;

export async function buildCli(): Promise<Cli> {
  const root = join(REPO_ROOT, "node_modules", ".cache", "flotilla-cli-test", `${process.pid}-${++builds}`);
  const tsc = await execa("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", join(root, "dist")], { cwd: REPO_ROOT, reject: false });
  if (tsc.exitCode !== 0) throw new Error(`tsc -p tsconfig.build.json failed (exit ${tsc.exitCode}):\n${tsc.stdout}\n${tsc.stderr}`);
  await mkdir(join(root, "bin"), { recursive: true });
  const bin = join(root, "bin", "flotilla.js");
  await copyFile(join(REPO_ROOT, "bin", "flotilla.js"), bin);
  return {
    bin,
    async run(args, opts = {}) {
      const r = await execa(process.execPath, [bin, ...args], { cwd: opts.cwd ?? REPO_ROOT, reject: false, env: opts.env });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
