/**
 * Captures what the external commands of one deploy step print (the Runner
 * every system, hook, check and secrets adapter uses is wrapped), and hands
 * the driver its safe tail (log-tail.ts): control characters stripped, the
 * values of the secrets generations on this host (the current one and the
 * one before it) and of registered legacy env values redacted, capped.
 *
 * Memory is bounded: at most RAW_KEEP_BYTES of whole lines are kept per step,
 * older lines are counted as cut.
 */
import { readFile, readlink, readdir } from "node:fs/promises";
import path from "node:path";
import { LOG_TAIL_MAX_BYTES } from "../../../schemas/src/api-constants.js";
import type { StepOutput } from "../ports.js";
import type { Runner } from "./exec.js";
import { safeTail, secretNeedles, type Tail } from "./log-tail.js";
import { registeredSecretValues, registerSecretValue } from "./redact.js";

const RAW_KEEP_BYTES = 64 * 1024;
/** Secret files larger than this are not read for redaction (certificates and keys are far smaller). */
const MAX_SECRET_FILE_BYTES = 1024 * 1024;
const MANIFEST = ".flotilla-secrets.json";

/** The decrypted values in the current secrets generation under `root` and the generation before it. */
export async function installedSecretValues(root: string): Promise<string[]> {
  let names: number[];
  try {
    names = (await readdir(root)).filter((n) => /^[1-9]\d*$/.test(n)).map(Number).sort((a, b) => a - b);
  } catch {
    return [];
  }
  if (names.length === 0) return [];
  const current = await readlink(path.join(root, "current")).then((t) => Number(path.basename(t))).catch(() => NaN);
  const idx = names.indexOf(current);
  const pick = idx >= 0 ? names.slice(Math.max(0, idx - 1), idx + 1) : names.slice(-2);
  const out: string[] = [];
  for (const n of pick) {
    const dir = path.join(root, String(n));
    let entries: Array<{ name: string }> = [];
    try {
      entries = (JSON.parse(await readFile(path.join(dir, MANIFEST), "utf8")) as { secrets?: Array<{ name: string }> }).secrets ?? [];
    } catch {
      entries = [];
    }
    for (const e of entries) {
      const file = path.join(dir, e.name);
      if (!file.startsWith(dir + path.sep)) continue;
      try {
        const bytes = await readFile(file);
        if (bytes.length <= MAX_SECRET_FILE_BYTES) out.push(bytes.toString("utf8"));
      } catch {
        // gone (pruned meanwhile) or unreadable: nothing to redact from it
      }
    }
  }
  return out;
}

export interface StepOutputOptions {
  /** The secrets root (secretsRoot of the agent config). */
  secretsRoot: string;
  maxBytes?: number;
  /** Replaces reading the secrets root (tests). */
  secretValues?: () => Promise<string[]>;
}

export class CapturedOutput implements StepOutput {
  private chunks: string[] = [];
  private bytes = 0;
  private cut = 0;

  constructor(private readonly o: StepOutputOptions) {}

  /**
   * The runner that records what each command printed, headed by `$ <command>
   * (exit N)`. Before handing a result back it registers the values of the
   * installed secrets generations (redact.ts), so an error message quoting
   * the output (failureText) is redacted as it is made and never reaches the
   * state file or a report in plaintext.
   */
  wrap(inner: Runner): Runner {
    return async (cmd, args, opts) => {
      const r = await inner(cmd, args, opts);
      await this.registerInstalled();
      const shown = opts.label ?? [cmd, ...args].join(" ");
      const status = r.timedOut ? "timed out" : `exit ${r.exitCode}`;
      this.add(`$ ${shown} (${status})`);
      for (const s of [r.stdout, r.stderr]) if (s) this.add(wholeLines(s));
      return r;
    };
  }

  private seen = "";

  /** Registers the installed secrets' values for redact(), re-reading them only when the generations changed. */
  private async registerInstalled(): Promise<void> {
    if (this.o.secretValues) {
      for (const v of await this.o.secretValues().catch(() => [] as string[])) registerSecretValue(v);
      return;
    }
    const root = this.o.secretsRoot;
    const key = `${await readdir(root).then((n) => n.sort().join(","), () => "")}>${await readlink(path.join(root, "current")).catch(() => "")}`;
    if (key === this.seen) return;
    for (const v of await installedSecretValues(root).catch(() => [] as string[])) registerSecretValue(v);
    this.seen = key;
  }

  private add(text: string): void {
    this.chunks.push(text);
    this.bytes += Buffer.byteLength(text, "utf8") + 1;
    while (this.bytes > RAW_KEEP_BYTES && this.chunks.length > 1) {
      const first = this.chunks.shift()!;
      const size = Buffer.byteLength(first, "utf8") + 1;
      this.bytes -= size;
      this.cut += size;
    }
    if (this.bytes > RAW_KEEP_BYTES) {
      // One chunk alone is too large: drop its first lines (never a partial line).
      const lines = this.chunks[0]!.split("\n");
      let drop = 0;
      while (drop < lines.length - 1 && this.bytes > RAW_KEEP_BYTES) {
        const size = Buffer.byteLength(lines[drop]!, "utf8") + 1;
        this.bytes -= size;
        this.cut += size;
        drop++;
      }
      this.chunks[0] = lines.slice(drop).join("\n");
    }
  }

  reset(): void {
    this.chunks = [];
    this.bytes = 0;
    this.cut = 0;
  }

  async take(): Promise<Tail | null> {
    if (this.chunks.length === 0) return null;
    const raw = this.chunks.join("\n");
    const cut = this.cut;
    this.reset();
    const installed = await (this.o.secretValues ?? (() => installedSecretValues(this.o.secretsRoot)))().catch(() => [] as string[]);
    const values = [...registeredSecretValues(), ...installed];
    return safeTail(raw, secretNeedles(values), this.o.maxBytes ?? LOG_TAIL_MAX_BYTES, cut);
  }
}

/**
 * The runner keeps the last 16,000 characters of each stream and marks a cut
 * with a leading "…": that first line may be the end of a longer one (and of
 * a secret in it), so it is dropped.
 */
function wholeLines(s: string): string {
  if (!s.startsWith("…")) return s;
  const nl = s.indexOf("\n");
  return nl < 0 ? "[… output cut]" : `[… output cut]${s.slice(nl)}`;
}
