// The host test bed itself: two hosts at once, each with its own hostname,
// host key, cgroup and Nix daemon; a host on its own veth whose link a test
// can cut; cleanup that leaves no cgroup or mount behind.
import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestBed } from "./harness.js";

let bed: TestBed | null = null;
let server: Server | null = null;

// The first run on a machine builds the base rootfs (debootstrap, ~75 s idle).
beforeAll(async () => {
  bed = await TestBed.create();
}, 900_000);

afterAll(async () => {
  server?.close();
  await bed?.close();
});

describe("host test bed", () => {
  it("boots hosts side by side with their own identity and cgroups, on their own veth if asked, and cleans up", async () => {
    if (!bed) throw new Error("no test bed");
    const [a, b] = await Promise.all([bed.boot("bed-a"), bed.boot("bed-b", { network: "veth" })]);
    expect((await a.sh("hostname")).stdout.trim()).toBe("bed-a");
    expect((await b.sh("hostname")).stdout.trim()).toBe("bed-b");
    expect(await a.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).not.toBe(await b.readFile("/etc/ssh/ssh_host_ed25519_key.pub"));
    expect((await a.sh("systemctl is-active nix-daemon.socket user@1000.service")).stdout.split("\n").slice(0, 2)).toEqual(["active", "active"]);
    // Each host's journald lives in its own cgroup tree on the machine.
    const cg = (h: typeof a) => readFileSync(`/proc/${h.pid1}/cgroup`, "utf8");
    expect(cg(a)).toContain(`nspawn-${a.id}`);
    expect(cg(b)).toContain(`nspawn-${b.id}`);

    // b reaches the machine over its veth only while the link is up.
    server = createServer((_req, res) => res.end("pong"));
    await new Promise<void>((r) => server!.listen(0, b.link!.machineAddr, () => r()));
    const port = (server.address() as AddressInfo).port;
    const probe = `exec 3<>/dev/tcp/${b.link!.machineAddr}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 3 cat <&3`;
    expect((await b.sh(probe)).stdout).toContain("pong");
    expect((await a.sh(`timeout 3 bash -c '${probe.replaceAll("'", "'\\''")}'`, { check: false })).stdout).toContain("pong"); // a shares the machine's network
    await b.linkDown();
    expect((await b.sh(`timeout 3 bash -c '${probe.replaceAll("'", "'\\''")}'`, { check: false })).code).not.toBe(0);
    await b.linkUp();
    // Carrier and neighbour entries come back within a moment of the link.
    let back = "";
    for (let i = 0; i < 20 && !back.includes("pong"); i++) {
      back = (await b.sh(probe, { check: false })).stdout;
      if (!back.includes("pong")) await new Promise((r) => setTimeout(r, 250));
    }
    expect(back).toContain("pong");

    const dirs = [a.merged, b.merged];
    const cgroups = [a, b].map((h) => `/sys/fs/cgroup/unified/nspawn-${h.id}`);
    await bed.close();
    bed = null;
    for (const c of cgroups) expect(existsSync(c)).toBe(false);
    const mounts = readFileSync("/proc/mounts", "utf8");
    for (const d of dirs) expect(mounts).not.toContain(d);
  }, 300_000);
});
