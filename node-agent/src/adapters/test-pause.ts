/**
 * TEST ONLY. With FLOTILLA_AGENT_TEST_PAUSE=<phase> and
 * FLOTILLA_AGENT_TEST_PAUSE_FILE=<path>, the agent, right after saving the
 * state in <phase>, writes <path> and waits until the test deletes it (or
 * kills the agent with -9). Never set these in production.
 */
import { existsSync, writeFileSync } from "node:fs";
import type { Phase } from "../loop/phases.js";

export function testPauseFromEnv(env: NodeJS.ProcessEnv): ((phase: Phase) => Promise<void>) | undefined {
  const want = env.FLOTILLA_AGENT_TEST_PAUSE;
  const file = env.FLOTILLA_AGENT_TEST_PAUSE_FILE;
  if (!want || !file) return undefined;
  let paused = false;
  return async (phase) => {
    if (phase !== want || paused) return;
    paused = true;
    writeFileSync(file, `${phase} ${process.pid}\n`);
    while (existsSync(file)) await new Promise((r) => setTimeout(r, 25));
  };
}
