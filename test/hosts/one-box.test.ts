// docs/one-box.md followed end to end on a fresh Debian host with a real
// systemd: every block marked `sh one-box:root` / `sh one-box:deploy` runs in
// order, verbatim, as that user (each in its own `bash -e`, as a pasted
// block), with the one substitution the page itself documents: the flake
// app `install-legacy-agent` (which needs nixpkgs to build) becomes the same
// installer script run from the project's build, with the package the
// harness adds to the host's Nix store. Then it checks what the page says
// the reader sees.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addPackage, agentStatus, journal, waitForUserManager } from "./agent-setup.js";
import { PROJECT_IN_HOST, PROJECT_ROOT, TestBed, type Host } from "./harness.js";

const DOC = join(PROJECT_ROOT, "docs/one-box.md");

export interface DocBlock {
  user: "root" | "deploy";
  script: string;
  line: number;
}

/** The page's marked command blocks, in order. */
export function oneBoxBlocks(markdown: string): DocBlock[] {
  const blocks: DocBlock[] = [];
  const re = /^```sh one-box:(root|deploy)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    blocks.push({ user: m[1] as "root" | "deploy", script: m[2]!, line: markdown.slice(0, m.index).split("\n").length });
  }
  return blocks;
}

/** The documented substitution ("How this page is tested"). */
export const INSTALLER_APP = "nix --extra-experimental-features 'nix-command flakes' run github:acme/flotilla#install-legacy-agent --";
const installerFromBuild = (pkg: string) =>
  `FLOTILLA_PACKAGE=${pkg} FLOTILLA_START_WRAPPER_SOURCE=${PROJECT_IN_HOST}/nix/agent-start-wrapper.sh bash ${PROJECT_IN_HOST}/nix/install-legacy-agent.sh`;

let bed: TestBed;
let h: Host;

beforeAll(async () => {
  bed = await TestBed.create();
  // Its own network namespace: the walkthrough's controller listens on
  // 127.0.0.1:8480, which must not collide with anything on this machine.
  h = await bed.boot("box", { network: "veth" });
}, 900_000);

afterAll(async () => {
  await bed?.close();
});

describe("docs/one-box.md, followed on a fresh host", () => {
  it("has blocks as root and as deploy, and the installer line the test substitutes", () => {
    const text = readFileSync(DOC, "utf8");
    const blocks = oneBoxBlocks(text);
    // Every code block of the page is one the test runs: nothing the reader types escapes it.
    expect(blocks.length).toBe(text.match(/^```\S/gm)?.length);
    expect(blocks.filter((b) => b.user === "root").length).toBeGreaterThanOrEqual(2);
    expect(blocks.filter((b) => b.user === "deploy").length).toBeGreaterThanOrEqual(6);
    expect(blocks.filter((b) => b.script.includes(INSTALLER_APP))).toHaveLength(1);
  });

  it("deploys version 1, rolls back version 2 on its own, and the controller shows both", async () => {
    const blocks = oneBoxBlocks(readFileSync(DOC, "utf8"));
    let pkg: string | null = null;
    for (const b of blocks) {
      let script = b.script;
      if (script.includes(INSTALLER_APP)) {
        // The package in the host's store, added by deploy through nix-daemon
        // (possible once root made deploy a Nix user, as the page does).
        await waitForUserManager(h, "deploy");
        pkg ??= await addPackage(h, "deploy");
        script = script.replace(INSTALLER_APP, installerFromBuild(pkg));
      }
      const r = await h.exec(["bash", "-e", "-c", script], {
        ...(b.user === "deploy" ? { user: "deploy", cwd: "/home/deploy" } : { cwd: "/root" }),
        check: false,
        timeoutMs: 400_000,
      });
      if (r.code !== 0) {
        const agentLog = await journal(h, "flotilla-agent.service", "deploy");
        throw new Error(
          `docs/one-box.md:${b.line} (as ${b.user}) exited ${r.code}\n--- block\n${b.script}--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}\n--- agent journal\n${agentLog}`,
        );
      }
    }

    // What the page says the reader sees at the end.
    const revs = (await h.exec(["git", "-C", "/home/deploy/fleet", "log", "--format=%H", "-2"], { user: "deploy" })).stdout.trim().split("\n");
    const [v2, v1] = revs as [string, string];
    const inst = { user: "deploy", agent: "/home/deploy/.local/state/nix/profiles/flotilla-agent/bin/flotilla-agent", config: "/home/deploy/.config/flotilla/agent.yaml" };
    const s = await agentStatus(h, inst);
    expect(s.phase).toBe("rolledBack");
    expect(s.current?.rev).toBe(v1);
    expect(s.failedRevs.find((f) => f.rev === v2)?.reason).toBe("HealthCheckFailed");
    expect((await h.readFile("/home/deploy/hello.txt")).trim()).toBe("hello, version 1");
    const unit = async (p: string) => (await h.exec(["systemctl", "--user", "show", "-P", p, "hello.service"], { user: "deploy" })).stdout.trim();
    expect(await unit("ActiveState")).toBe("active");
    expect(await unit("ExecStart")).toContain(s.current!.generation.replace(/\/bin\/deploy$/, ""));

    // The controller, from the signed reports: box on v1, v2's rollout halted.
    const st = await h.sh(
      `export FLOTILLA_CONTROLLER=http://127.0.0.1:8480 FLOTILLA_TOKEN=$(cat ~/.config/flotilla/operator-token); ~/.local/state/nix/profiles/flotilla-agent/bin/flotilla status --json`,
      { user: "deploy", check: false },
    );
    expect(st.code).toBe(3);
    const status = JSON.parse(st.stdout) as { hosts: Array<{ host: string; currentRev: string | null }>; rollouts: Array<{ rev: string; state: string }> };
    expect(status.hosts.find((x) => x.host === "box")?.currentRev).toBe(v1);
    expect(status.rollouts.find((r) => r.rev === v2)?.state).toBe("halted");
    expect(status.rollouts.find((r) => r.rev === v1)?.state).toBe("complete");
  }, 900_000);
});
