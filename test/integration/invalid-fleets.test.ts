// The invalid-fleet corpus (test/invalid-fleets/*.yaml): every file must fail
// with exactly the errors its `# expect: <path> @ <line>: <regex>` header lines
// name ("-" = no path, e.g. YAML syntax errors), no more and no fewer. Then
// the real CLI (a private build of bin/flotilla.js) on a valid and an invalid dir.
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadFleetAtRev, loadFleetText, type LocatedIssue } from "../../common/src/fleet/load.js";
import { GitMirror } from "../../common/src/git/mirror.js";
import { memoryLogger } from "../../common/src/log.js";
import { makeFleetRepo } from "../helpers/git-repo.js";
import { makeTempDir } from "../helpers/tmp.js";
import { buildCli, type Cli } from "./cli-build.js";

const CORPUS = fileURLToPath(new URL("../invalid-fleets/", import.meta.url));
const files = readdirSync(CORPUS).filter((f) => f.endsWith(".yaml")).sort();

interface Expectation {
  path: string;
  line: number;
  pattern: RegExp;
}

function expectations(text: string): Expectation[] {
  return [...text.matchAll(/^# expect: (\S+) @ (\d+): (.+)$/gm)].map((m) => ({
    path: m[1] === "-" ? "" : m[1]!,
    line: Number(m[2]),
    pattern: new RegExp(m[3]!),
  }));
}

describe("invalid fleet corpus", () => {
  it("has at least 25 files, each with an expectation", () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
    for (const f of files) expect(expectations(readFileSync(join(CORPUS, f), "utf8")), f).not.toEqual([]);
  });

  for (const f of files) {
    it(`${f} fails with exactly the expected errors`, async () => {
      const text = readFileSync(join(CORPUS, f), "utf8");
      const result = await loadFleetText(text, f);
      const errors = result.issues.filter((i) => i.severity === "error");
      const shown = errors.map((i) => `${i.line} ${i.path || "-"}: ${i.message}`);
      expect(result.fleet, f).toBeUndefined();
      for (const e of expectations(text)) {
        const hits = errors.filter((i) => i.path === e.path && i.line === e.line && e.pattern.test(i.message));
        expect(hits, `${f}: expected one error at ${e.path || "-"} @ ${e.line} matching ${e.pattern}; got:\n${shown.join("\n")}`).toHaveLength(1);
      }
      expect(shown, `${f}: unexpected extra errors`).toHaveLength(expectations(text).length);
      for (const i of errors) {
        expect(i.file).toBe(f);
        expect(i.col).toBeGreaterThan(0);
        expect(i.message).not.toContain("do-not-print-me");
      }
    });
  }
});

describe("agents refuse the corpus too", () => {
  it("every file, committed to a git repo and read the agent's way (GitMirror + loadFleetAtRev), fails with the same errors", async () => {
    const repo = await makeFleetRepo();
    const mirror = new GitMirror({ dir: join(await makeTempDir("flotilla-mirror-"), "c.git"), remotes: [repo.url], branch: "main", log: memoryLogger() });
    await mirror.init();
    for (const f of files) {
      const text = readFileSync(join(CORPUS, f), "utf8");
      const rev = await repo.commit({ "fleet.yaml": text }, f);
      await mirror.fetch(repo.url);
      const agent = await loadFleetAtRev(mirror, rev, "fleet.yaml", { branch: "main" });
      const validate = await loadFleetText(text, "fleet.yaml");
      expect(agent.fleet, f).toBeUndefined();
      const errs = (issues: LocatedIssue[]) => issues.filter((i) => i.severity === "error" && !/^sopsFile /.test(i.message)).map((i) => `${i.line}:${i.col} ${i.path} ${i.message}`);
      expect(errs(agent.issues), f).toEqual(errs(validate.issues));
    }
  }, 120_000);
});

describe("flotilla validate (built CLI)", () => {
  let cli: Cli;
  beforeAll(async () => {
    cli = await buildCli();
  }, 180_000);
  afterAll(async () => cli?.cleanup());

  it("accepts fleet-example (exit 0)", async () => {
    // --no-eval: fleet-example's flake needs nixpkgs from the network (test/integration/validate-repo.test.ts runs nix eval offline on the test fleet).
    const r = await cli.run(["validate", "fleet-example", "--no-eval"]);
    expect(r.stderr).toMatch(/^fleet-example\/fleet\.yaml: valid: 4 hosts/m);
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
  });

  it("rejects an invalid dir with one human line per problem (exit 1)", async () => {
    const dir = await makeTempDir("flotilla-invalid-");
    await mkdir(join(dir, "repo"));
    await writeFile(join(dir, "repo", "fleet.yaml"), readFileSync(join(CORPUS, "several-schema-problems.yaml"), "utf8"));
    const r = await cli.run(["validate", "repo"], { cwd: dir });
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('repo/fleet.yaml:11:11  hosts[0].kind  expected one of nixos, legacy, got "nixOS"');
    for (const l of lines) expect(l).toMatch(/^repo\/fleet\.yaml:\d+:\d+  \S+  \S/);
    expect(r.stderr).toMatch(/repo\/fleet\.yaml: invalid \(6 errors, 0 warnings\)/);
  });

  it("prints JSON with --json", async () => {
    const dir = await makeTempDir("flotilla-invalid-");
    await writeFile(join(dir, "fleet.yaml"), readFileSync(join(CORPUS, "kind-unknown.yaml"), "utf8"));
    const r = await cli.run(["validate", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ valid: false, errors: 1, warnings: 0 });
    expect(doc.issues[0]).toMatchObject({ severity: "error", file: "fleet.yaml", line: 6, col: 11, path: "hosts[0].kind" });
  });

  it("says where fleet.yaml was expected when there is none", async () => {
    const dir = await makeTempDir("flotilla-empty-");
    const r = await cli.run(["validate", dir]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/fleet\.yaml  -  no fleet\.yaml in /);
  });
});
