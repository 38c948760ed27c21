// The step output capture on real processes and a real secrets-root layout
// (generation directories with their manifest and the `current` link).
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { commandRunner } from "./exec.js";
import { CapturedOutput, installedSecretValues } from "./step-output.js";

function secretsRoot(gens: Record<number, Record<string, string>>, current: number): string {
  const root = mkdtempSync(path.join(tmpdir(), "flotilla-step-output-"));
  for (const [n, files] of Object.entries(gens)) {
    const dir = path.join(root, n);
    mkdirSync(dir);
    for (const [name, value] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), value);
    }
    writeFileSync(path.join(dir, ".flotilla-secrets.json"), JSON.stringify({ generation: Number(n), secrets: Object.keys(files).map((name) => ({ name })) }));
  }
  symlinkSync(String(current), path.join(root, "current"));
  return root;
}

describe("CapturedOutput", () => {
  it("reads the current and the previous secrets generation, not older ones", async () => {
    const root = secretsRoot({ 1: { a: "oldest-value-1" }, 2: { a: "previous-value-2" }, 3: { "d/b": "current-value-3" } }, 3);
    expect((await installedSecretValues(root)).sort()).toEqual(["current-value-3", "previous-value-2"]);
    expect(await installedSecretValues(path.join(root, "missing"))).toEqual([]);
  });

  it("captures each command's output with its exit status, strips escapes, redacts installed secrets, then resets", async () => {
    const root = secretsRoot({ 4: { token: "s3cr3t-Value-42\n" }, 5: { token: "n3w-Value-43" } }, 5);
    const out = new CapturedOutput({ secretsRoot: root });
    const run = out.wrap(commandRunner(memoryLogger(), { PATH: process.env.PATH }));
    await run("sh", ["-c", "printf 'building\\n\\033[31mtoken=s3cr3t-Value-42\\033[0m\\n'; printf n3w-Value-43 | base64; echo 'error: boom' >&2; exit 3"], { timeoutMs: 10_000 });
    const tail = await out.take();
    expect(tail?.truncated).toBe(false);
    expect(tail?.text).toBe(`$ sh -c printf 'building\\n\\033[31mtoken=s3cr3t-Value-42\\033[0m\\n'; printf n3w-Value-43 | base64; echo 'error: boom' >&2; exit 3 (exit 3)\nbuilding\ntoken=***\n***\nerror: boom`.replace("s3cr3t-Value-42", "***").replace("printf n3w-Value-43", "printf ***"));
    expect(await out.take()).toBeNull();
  });

  it("keeps memory bounded and the tail capped when a step prints a lot", async () => {
    const out = new CapturedOutput({ secretsRoot: "/nonexistent", maxBytes: 2048 });
    const run = out.wrap(commandRunner(memoryLogger(), { PATH: process.env.PATH }));
    for (let i = 0; i < 20; i++) await run("sh", ["-c", `seq 1 3000 | sed 's/^/run ${i} line /'`], { timeoutMs: 10_000 });
    const tail = (await out.take())!;
    expect(tail.truncated).toBe(true);
    expect(Buffer.byteLength(tail.text)).toBeLessThanOrEqual(2048);
    expect(tail.text.endsWith("run 19 line 3000")).toBe(true);
    expect(tail.text).toMatch(/^\[… earlier output cut: last \d+ of \d+ bytes kept\]\n/);
  });
});
