/**
 * Builds bin/ + dist/ once, before any test file runs. Tests that spawn the
 * real CLIs (`bin/flotilla.js`, `bin/flotilla-agent.js`) use that build and
 * never compile during the run: test files run in parallel, and a build that
 * rewrites dist/ under a running process is a race. `npm test` has just built
 * (scripts/ensure-deps.sh) and says so with FLOTILLA_TEST_PREBUILT=1.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup(): void {
  if (process.env.FLOTILLA_TEST_PREBUILT === "1") return;
  const root = fileURLToPath(new URL("..", import.meta.url));
  try {
    execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.build.json"], { cwd: root, stdio: "pipe" });
  } catch (e) {
    const out = e as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`tsc -p tsconfig.build.json failed; the tests need the build:\n${out.stdout ?? ""}${out.stderr ?? ""}`, { cause: e });
  }
}
