import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTempDir } from "../../../test/helpers/tmp.js";
import { FLEET_FILE_MAX_BYTES, formatIssue, loadFleetAtRev, loadFleetBytes, loadFleetDir, loadFleetText, type LocatedIssue } from "./load.js";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdpWU2phnYb6Q9MqTH31upT86g0EnS0EEjm0c5PwUvs a";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB2fDEwaT2U8AditqpcM/q5Sk+H/Qmnqp9cO4K+YCEp b";

const VALID = `version: 1
hosts:
  - name: web-1
    kind: nixos
    hostKey: ${KEY_A}
  - name: shop
    kind: legacy
    user: deploy
    hostKey: ${KEY_B}
waves:
  - name: canary
    members: [web-1]
secrets:
  - name: db-password
    sopsFile: secrets/db.yaml
    hosts: [shop]
`;

const brief = (issues: LocatedIssue[]) => issues.map((i) => `${i.severity} ${i.line}:${i.col} ${i.path} ${i.message}`);

describe("loadFleetText", () => {
  it("returns the normalised fleet and the file for a valid text", async () => {
    const r = await loadFleetText(VALID, "fleet.yaml");
    expect(r.issues).toEqual([]);
    expect(r.fleet?.hosts.map((h) => [h.name, h.wave])).toEqual([["web-1", "canary"], ["shop", "rest"]]);
    expect(r.file?.hosts).toHaveLength(2);
  });

  it("reports YAML syntax errors with their line and column and stops there", async () => {
    const r = await loadFleetText("version: 1\nhosts: [a,\n  b: c\n", "f.yaml");
    expect(r.fleet).toBeUndefined();
    expect(r.issues.length).toBeGreaterThan(0);
    expect(r.issues.every((i) => i.severity === "error" && /^YAML syntax error/.test(i.message) && i.file === "f.yaml")).toBe(true);
    expect(r.issues[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it("treats duplicate keys as errors, pointing at the second one", async () => {
    const r = await loadFleetText(VALID.replace("    kind: nixos\n", "    kind: nixos\n    kind: nixos\n"), "f.yaml");
    expect(brief(r.issues)).toEqual(['error 5:5 hosts[0].kind duplicate key "kind" (first at line 4); each key may appear once']);
    expect(r.fleet).toBeUndefined();
  });

  it("points at an unknown key and suggests the known one, without echoing its value", async () => {
    const r = await loadFleetText(VALID.replace("    user: deploy\n", "    user: deploy\n    hostkey: hunter2-secret\n"), "f.yaml");
    expect(brief(r.issues)).toEqual(['error 9:5 hosts[1].hostkey unknown key "hostkey" (did you mean "hostKey"?)']);
    expect(r.issues[0]!.message).not.toContain("hunter2");
  });

  it("lists the accepted keys when nothing is close", async () => {
    const r = await loadFleetText(VALID.replace("version: 1\n", "version: 1\nfrobnicate: {}\n"), "f.yaml");
    expect(r.issues[0]!.message).toMatch(/^unknown key "frobnicate"; expected one of version, policy, agent, hooks, hosts, waves, checks, secrets, delivery, windows, reboot$/);
    expect(r.issues[0]!.line).toBe(2);
  });

  it("points a missing key at its parent and says why it is needed", async () => {
    const r = await loadFleetText(VALID.replace("    user: deploy\n", ""), "f.yaml");
    expect(brief(r.issues)).toEqual(['error 6:5 hosts[1].user required key "user" is missing: a legacy host needs its deploy user']);
  });

  it("names the allowed kinds", async () => {
    const r = await loadFleetText(VALID.replace("kind: legacy", "kind: debian"), "f.yaml");
    expect(brief(r.issues)).toEqual(['error 7:11 hosts[1].kind expected one of nixos, legacy, got "debian"']);
  });

  it("explains wrong types in operator words", async () => {
    const r = await loadFleetText(VALID.replace("  - name: canary\n", "  - name: canary\n    soak: 30\n"), "f.yaml");
    expect(brief(r.issues)).toEqual(["error 12:11 waves[0].soak expected a string, got the number 30 (put it in quotes)"]);
  });

  it("maps normalisation rule issues to their positions", async () => {
    const r = await loadFleetText(VALID.replace("members: [web-1]", "members: [web-1, web-9]"), "f.yaml");
    expect(brief(r.issues)).toEqual(['error 12:22 waves[0].members[1] wave "canary" names "web-9", which matches no host']);
    expect(r.file).toBeDefined();
    expect(r.fleet).toBeUndefined();
  });

  it("keeps warnings without failing", async () => {
    const r = await loadFleetText(VALID.replace("    user: deploy\n", "    user: deploy\n    pin: 0123456789abcdef0123456789abcdef01234567\n").replace("members: [web-1]", "members: [web-1, shop]"), "f.yaml");
    expect(r.issues.map((i) => i.severity)).toEqual(["warning"]);
    expect(r.fleet).toBeDefined();
  });

  it("reports an empty file as the missing mapping", async () => {
    const r = await loadFleetText("# nothing here\n", "f.yaml");
    expect(r.issues.map((i) => i.message)).toEqual(["expected a mapping (key: value lines) at the top of the fleet file, got nothing"]);
  });

  it("formats issues as file:line:col  path  message", async () => {
    const r = await loadFleetText(VALID.replace("kind: legacy", "kind: debian"), "x/fleet.yaml");
    expect(formatIssue(r.issues[0]!)).toBe('x/fleet.yaml:7:11  hosts[1].kind  expected one of nixos, legacy, got "debian"');
  });
});

describe("loadFleetDir", () => {
  it("reads <dir>/fleet.yaml and refuses sopsFiles that do not exist", async () => {
    const dir = await makeTempDir();
    await writeFile(join(dir, "fleet.yaml"), VALID);
    const r = await loadFleetDir(dir);
    expect(r.fleet).toBeUndefined();
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]).toMatchObject({ severity: "error", path: "secrets[0].sopsFile", line: 15, file: join(dir, "fleet.yaml") });
    expect(r.issues[0]!.message).toMatch(/sopsFile "secrets\/db.yaml" does not exist/);

    await mkdir(join(dir, "secrets"));
    await writeFile(join(dir, "secrets", "db.yaml"), "sops: {}\n");
    expect((await loadFleetDir(dir)).issues).toEqual([]);
  });

  it("refuses a file over 1 MiB before parsing it", async () => {
    const dir = await makeTempDir();
    await writeFile(join(dir, "fleet.yaml"), VALID + "#".repeat(FLEET_FILE_MAX_BYTES) + "\n");
    const r = await loadFleetDir(dir, { label: "fleet.yaml" });
    expect(r.issues).toEqual([expect.objectContaining({ severity: "error", file: "fleet.yaml", line: 0, path: "" })]);
    expect(r.issues[0]!.message).toMatch(/^the file is \d+ bytes; a fleet file may be at most 1048576 bytes \(1 MiB\)$/);
  });

  it("refuses bytes that are not UTF-8, pointing at the first bad byte", async () => {
    const dir = await makeTempDir();
    const bytes = Buffer.concat([Buffer.from(VALID.replace("tags", "XX")), Buffer.from("  - name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
    await writeFile(join(dir, "fleet.yaml"), Buffer.from("version: 1\n# caf\xe9\n", "latin1"));
    const r = await loadFleetDir(dir, { label: "fleet.yaml" });
    expect(brief(r.issues)).toEqual(["error 2:6  not valid UTF-8 (byte 0xe9 at offset 16); a fleet file is UTF-8 text"]);
    const r2 = await loadFleetBytes(bytes, "f.yaml");
    expect(r2.issues[0]!.message).toMatch(/^not valid UTF-8 \(byte 0xe9/);
    expect((await loadFleetBytes(Buffer.from(VALID.replace("web-1", "wéb-1"), "utf8"), "f.yaml")).issues[0]!.message).toMatch(/expected a host name/);
  });

  it("reports a missing fleet.yaml as an issue", async () => {
    const dir = await makeTempDir();
    const r = await loadFleetDir(dir, { label: "repo/fleet.yaml" });
    expect(r.issues).toEqual([expect.objectContaining({ severity: "error", file: "repo/fleet.yaml", line: 0, path: "" })]);
    expect(r.issues[0]!.message).toMatch(/^no fleet.yaml in /);
  });
});

describe("loadFleetAtRev", () => {
  const files = (fleet: string): { readFile(rev: string, path: string): Promise<Buffer | null> } => ({
    readFile: async (_rev, path) => (path === "fleet.yaml" ? Buffer.from(fleet) : path === "secrets/db.yaml" ? Buffer.from("sops: {}\n") : null),
  });
  const REV = "0123456789abcdef0123456789abcdef01234567";

  it("refuses a fleet whose policy.branch is not the branch the reader follows", async () => {
    const withBranch = VALID.replace("version: 1\n", "version: 1\npolicy:\n  branch: prod\n");
    expect((await loadFleetAtRev(files(withBranch), REV, "fleet.yaml", { branch: "prod" })).fleet).toBeDefined();
    const r = await loadFleetAtRev(files(withBranch), REV, "fleet.yaml", { branch: "main" });
    expect(r.fleet).toBeUndefined();
    expect(brief(r.issues)).toEqual([
      'error 3:11 policy.branch policy.branch is "prod" but this revision was read from branch "main", which the agent or controller is configured to follow; make them agree (set policy.branch, or the configured branch)',
    ]);
    // The default ("main") counts too.
    const d = await loadFleetAtRev(files(VALID), REV, "fleet.yaml", { branch: "release" });
    expect(d.issues.map((i) => i.message)).toEqual([expect.stringMatching(/^policy\.branch is "main" \(the default\) but this revision was read from branch "release"/)]);
    expect((await loadFleetAtRev(files(VALID), REV)).fleet).toBeDefined();
  });
});
