// A contender for the agent lock, for test/integration/agent-lock.test.ts: a
// real process that imports the built lock module, waits for "go <stateDir>"
// on stdin (so all contenders start together), tries to take the lock, prints
// "won" or "locked: <message>", holds a won lock until "release", and repeats.
import { createInterface } from "node:readline";

const { acquireLock } = await import(process.argv[2]);
let release = null;
const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
for await (const line of lines) {
  const [cmd, dir] = line.split(" ");
  if (cmd === "go") {
    try {
      release = acquireLock(dir);
      process.stdout.write("won\n");
    } catch (e) {
      process.stdout.write(`locked: ${String(e.message).replace(/\n/g, " ")}\n`);
    }
  } else if (cmd === "release") {
    release?.();
    release = null;
    process.stdout.write("released\n");
  }
}
