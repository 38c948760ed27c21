// The docs say what the code does (issue #13, "Docs and packaging"): each
// test guards one contradiction a reader found, against the code or the
// files it is about, so a change on either side fails here.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { loadFleetBytes } from "../../common/src/fleet/load.js";
import { gitRunner } from "../../common/src/git/run.js";
import { createLogger } from "../../common/src/log.js";
import { loadRules, ruleFor } from "../../controller/src/commands/secrets.js";
import { COMMANDS } from "../../node-agent/src/main.js";
import { commandRunner } from "../../node-agent/src/adapters/exec.js";
import { HostStatus } from "../../schemas/src/api.js";
import { LegacyHost } from "../../schemas/src/fleet.js";
import { formatFromPath, hostRecipient, loadSopsRecipients } from "../../secrets/src/index.js";

const ROOT = join(import.meta.dirname, "../..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

function files(dir: string, keep: (p: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".git")) continue;
    const p = join(dir, name);
    if (statSync(join(ROOT, p)).isDirectory()) out.push(...files(p, keep));
    else if (keep(p)) out.push(p);
  }
  return out;
}

describe("agent.md's command list", () => {
  const agentMd = read("docs/agent.md");
  const commands = agentMd.slice(agentMd.indexOf("## Commands"), agentMd.indexOf("## The state machine"));
  const block = /```\n([\s\S]*?)```/.exec(commands)![1]!;

  it("names every command main.ts accepts, in the synopsis", () => {
    for (const c of COMMANDS) expect(block, `flotilla-agent ${c}`).toMatch(new RegExp(`^flotilla-agent ${c}\\b`, "m"));
  });

  it("names every option main.ts parses, in the synopsis", () => {
    const main = read("node-agent/src/main.ts");
    const options = [...main.matchAll(/x === "(--[a-z-]+)"/g)].map((m) => m[1]!);
    expect(options).toContain("--accept-rewrite");
    for (const o of options) expect(block, o).toContain(o);
  });
});

describe("the README's flotilla-agent line", () => {
  it("names every command and the options of retry and status", () => {
    const line = read("README.md").split("\n").find((l) => l.startsWith("flotilla-agent "))!;
    for (const c of COMMANDS) expect(line, c).toMatch(new RegExp(`[ |]${c}\\b`));
    expect(line).toContain("--accept-rewrite");
    expect(line).toContain("--json");
  });
});

describe("agent.md on logging external commands", () => {
  it("says what the code logs: ran cmd= at info for commands, git args= at debug for git", async () => {
    const lines: string[] = [];
    const log = createLogger({ component: "t", level: "debug", format: "text", journal: false, write: (l) => lines.push(l) });
    await commandRunner(log, process.env)("true", [], { timeoutMs: 10_000 });
    await gitRunner({ log })(["--version"]);
    expect(lines.some((l) => /^info t: ran cmd=true ms=\d+ exit=0$/.test(l))).toBe(true);
    expect(lines.some((l) => /^debug t: git args=--version ms=\d+ exit=0$/.test(l))).toBe(true);
    expect(lines.some((l) => /^info .*git/.test(l))).toBe(false);
    const agentMd = read("docs/agent.md");
    expect(agentMd).toMatch(/logged at info as\s+`ran cmd="…" ms=… exit=…`/);
    expect(agentMd).toMatch(/logged at debug as `git args="…" ms=… exit=…`/);
    expect(agentMd).not.toMatch(/Every external command is logged as/);
  });
});

describe("the legacy projectDir default", () => {
  it("is one value, the one the agent applies, in the schema and the reference", async () => {
    const yaml = `version: 1\nhosts:\n  - name: shop\n    kind: legacy\n    hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGC9JPWk171qvRKLbEYjp1l+hCmX2lbZB7UmqmZBFepc\n    user: shop\n`;
    const r = await loadFleetBytes(Buffer.from(yaml), "fleet.yaml");
    expect(r.issues).toEqual([]);
    const host = r.fleet!.hosts.find((h) => h.name === "shop")!;
    expect(host.kind === "legacy" && host.projectDir).toBe("/home/shop/fleet");
    expect(LegacyHost.shape.projectDir.description).toContain('Default "/home/<user>/fleet".');
    const ref = read("docs/fleet-reference.md");
    const defaults = [...ref.matchAll(/\/home\/<user>\/[^\s"`|)]+/g)].map((m) => m[0]);
    expect(new Set(defaults)).toEqual(new Set(["/home/<user>/fleet"]));
  });
});

describe("the generation field of status --json", () => {
  it("is described in the schema (so in status-report.schema.json) and defined in controller.md and agent.md", () => {
    expect(HostStatus.shape.generation.description).toMatch(/store path/);
    const schema = JSON.parse(read("schemas/generated/status-report.schema.json")) as unknown;
    expect(JSON.stringify(schema)).toContain(HostStatus.shape.generation.description!);
    expect(read("docs/controller.md")).toMatch(/\*Generation\*: what the current revision runs as/);
    expect(read("docs/agent.md")).toMatch(/A \*generation\* is what a revision runs as on this\s+host/);
  });
});

describe("fleet-example/.sops.yaml and secrets.md agree on host recipients", () => {
  it("lists hosts only for files Flotilla does not install (sops-nix); flotilla secrets updatekeys would change nothing", async () => {
    const dir = join(ROOT, "fleet-example");
    const rules = await loadRules(join(dir, ".sops.yaml"));
    const { fleet } = await loadFleetBytes(readFileSync(join(dir, "fleet.yaml")), "fleet.yaml");
    const hostOf = new Map(fleet!.hosts.map((h) => [hostRecipient(h.hostKey), h.name]));
    for (const name of readdirSync(join(dir, "secrets")).filter((f) => f !== "README.md")) {
      const rel = `secrets/${name}`;
      const rule = ruleFor(rules, rel);
      expect(rule, rel).toBeDefined();
      const receivers = new Set(fleet!.secrets.filter((s) => s.sopsFile === rel).flatMap((s) => s.hosts));
      // A host that gets the file through fleet.yaml's secrets is added by updatekeys: not listed by hand.
      const listed = rule!.age.map((r) => hostOf.get(r)).filter((h): h is string => h !== undefined);
      for (const h of listed) expect(receivers.has(h), `${rel}: ${h} is listed in .sops.yaml and also receives it through fleet.yaml`).toBe(false);
      // The file is encrypted to exactly what updatekeys computes.
      const expected = new Set([...rule!.age, ...fleet!.hosts.filter((h) => receivers.has(h.name)).map((h) => hostRecipient(h.hostKey))]);
      const actual = new Set(loadSopsRecipients(readFileSync(join(dir, rel)), formatFromPath(rel), rel));
      expect(actual, rel).toEqual(expected);
    }
    const sops = read("fleet-example/.sops.yaml");
    expect(sops).toContain("flotilla secrets updatekeys");
    expect(sops).not.toMatch(/^#\s+sops updatekeys/m);
    expect(read("docs/secrets.md")).toMatch(/hosts that read a file with sops-nix/);
  });
});

describe("references a reader can follow", () => {
  // What users read: README, docs, the example fleet, the Nix files and
  // scripts they install, and the sources (comments are read in reviews and
  // schema descriptions become docs/fleet-reference.md).
  const shown = [
    "README.md",
    ...files("docs", (p) => p.endsWith(".md")),
    ...files("fleet-example", (p) => /\.(nix|md|yaml)$/.test(p) || p.endsWith(".sops.yaml")),
    ...files("nix", (p) => /\.(nix|sh)$/.test(p)),
    "bench/RESULTS.md",
    ...files("test", (p) => /\.(ts|md|sh|nix)$/.test(p) && !p.endsWith("docs-consistency.test.ts")),
    ...["schemas/src", "common/src", "node-agent/src", "controller/src", "secrets/src"].flatMap((d) => files(d, (p) => p.endsWith(".ts"))),
  ];

  it("has no private names: seed NNN, RFC-NNNN or HOSTS.md without a link", () => {
    const bad: string[] = [];
    for (const f of shown) {
      read(f)
        .split("\n")
        .forEach((line, i) => {
          for (const m of line.matchAll(/\b[Ss]eeds?[ -]\d{3}\b|\bRFC-\d+\b|(?<![\w-])HOSTS\.md\b/g)) {
            // A markdown link on the same line makes it followable.
            if (!/\]\(https?:\/\/[^)]+\)/.test(line)) bad.push(`${relative(ROOT, join(ROOT, f))}:${i + 1}: ${m[0]}`);
          }
        });
    }
    expect(bad).toEqual([]);
  });

  it("has every relative link of README.md and docs/ pointing at a file that exists and, with #anchor, at a heading of it", () => {
    // GitHub's heading ids: lower case, punctuation dropped, spaces to '-', -1, -2… for repeats; plus <a id>.
    const slug = (h: string) => h.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
    const anchorsOf = (file: string) => {
      const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
      const seen = new Map<string, number>();
      const out = new Set<string>();
      for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
        const base = slug(m[1]!);
        const n = seen.get(base) ?? 0;
        seen.set(base, n + 1);
        out.add(n ? `${base}-${n}` : base);
      }
      for (const m of text.matchAll(/<a id="([^"]+)"/g)) out.add(m[1]!);
      return out;
    };
    const bad: string[] = [];
    for (const f of ["README.md", ...files("docs", (p) => p.endsWith(".md"))]) {
      const text = read(f).replace(/```[\s\S]*?```/g, "");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1]!;
        if (/^[a-z]+:/.test(link)) continue;
        const [p, anchor] = link.split("#");
        const target = p ? join(ROOT, dirname(f), p) : join(ROOT, f);
        if (!existsSync(target)) bad.push(`${f}: ${link}: no such file`);
        else if (anchor && target.endsWith(".md") && !anchorsOf(target).has(anchor)) bad.push(`${f}: ${link}: no such heading`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("links the one-box walkthrough from the README", () => {
    expect(read("README.md")).toContain("](docs/one-box.md)");
  });
});
