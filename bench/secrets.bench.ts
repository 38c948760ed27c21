/**
 * Secrets benchmark: decrypting a 100-key YAML sops file and a 1 MiB binary
 * sops file in-process (data key unwrap + every value + MAC), against the
 * floor of spawning `age -d` to unwrap the same data key.
 * Run: node --import tsx bench/secrets.bench.ts
 * Prints medians and ratios; target ≤ 10 ms for the 100-key file.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { execa } from "execa";
import { decryptSopsFile, encryptSopsFile, parseAgeKeyFile, loadSopsRecipients } from "../secrets/src/index.js";
import { loadSops } from "../secrets/src/sops/load.js";

const RUNS = Number(process.env["BENCH_RUNS"] ?? 50);

async function median(fn: () => Promise<unknown>, runs = RUNS): Promise<number> {
  for (let i = 0; i < 3; i++) await fn(); // warm up
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    xs.push(performance.now() - t);
  }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), "flotilla-bench-"));
  try {
    const keyFile = path.join(dir, "key.txt");
    await execa("age-keygen", ["-o", keyFile]);
    const ids = await parseAgeKeyFile((await import("node:fs")).readFileSync(keyFile, "utf8"), keyFile);
    const recipient = ids[0]!.recipient;

    const yaml = Array.from({ length: 100 }, (_, i) => `key_${i}: ${randomBytes(24).toString("base64")}`).join("\n") + "\n";
    const yamlEnc = await encryptSopsFile(Buffer.from(yaml), { format: "yaml", recipients: [recipient] });
    const bin = randomBytes(1024 * 1024);
    const binEnc = await encryptSopsFile(bin, { format: "binary", recipients: [recipient] });

    const rows: Array<[string, number]> = [];
    for (const [name, bytes, format] of [
      ["100-key YAML", yamlEnc, "yaml"],
      ["1 MiB binary", binEnc, "binary"],
    ] as const) {
      const enc = loadSops(bytes, format, name).metadata.age[0]!.enc;
      const dk = path.join(dir, `${format}.dk.age`);
      await writeFile(dk, enc);
      const floor = await median(() => execa("age", ["-d", "-i", keyFile, dk]), Math.min(RUNS, 30));
      const ours = await median(() => decryptSopsFile(bytes, { format, identities: ids, file: name }));
      rows.push([`${name}: flotilla decryptSopsFile (in-process, MAC verified)`, ours]);
      rows.push([`${name}: age -d unwrapping the same data key (CLI spawn)`, floor]);
      console.log(`${name.padEnd(14)} ours ${ours.toFixed(2)} ms   age -d floor ${floor.toFixed(2)} ms   ratio ours/floor ${(ours / floor).toFixed(2)}`);
    }
    const yamlMs = rows[0]![1];
    console.log(`target 100-key YAML ≤ 10 ms: ${yamlMs <= 10 ? "met" : "NOT met"} (${yamlMs.toFixed(2)} ms); recipients ${loadSopsRecipients(yamlEnc, "yaml").length}; runs ${RUNS}; node ${process.version}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
