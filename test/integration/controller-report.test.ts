// The operator's view: `flotilla status` / `flotilla audit` against a real
// controller, and the web dashboard in real headless Chromium.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditReport, StatusReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { makeHostSigners, newFleetRepo, OPERATOR_TOKEN, SimAgent, startTestController } from "./controller/harness.js";
import { cli } from "./controller/cli.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let signers: Record<string, HostSigner>;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let C: string;
let browser: Browser | undefined;

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1", "web-2", "db-1"]);
  const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }, { name: "db", members: ["db-1"] }] });
  C = await repo.head();
  ctl = await startTestController({ repo });
  for (const h of ["web-1", "web-2", "db-1"]) {
    const a = new SimAgent(signers[h]!, ctl.url);
    await a.send(a.heartbeat({ currentRev: null, healthy: true, phase: "idle" }));
  }
  const canary = new SimAgent(signers["canary-1"]!, ctl.url);
  await canary.send(...canary.failed(C));
});
afterAll(async () => {
  await browser?.close();
  await ctl?.stop();
});

describe("flotilla status / audit", () => {
  it("prints the status as text, JSON and Markdown, filtered by host or wave", async () => {
    const text = await cli(["status", "--controller", ctl.url, "--token", OPERATOR_TOKEN]);
    expect(text.code).toBe(3); // halted
    expect(text.out).toMatch(/HOST\s+WAVE\s+DESIRED\s+CURRENT/); // PIN: no host is pinned, so it is left out at 100 columns
    expect(text.out).toMatch(/rollout [0-9a-f]{12}: HALTED.* — "initial fleet" by Flotilla Test/);
    for (const line of text.out.trimEnd().split("\n")) expect(line.length, line).toBeLessThanOrEqual(100);
    const wide = await cli(["status", "--controller", ctl.url, "--token", OPERATOR_TOKEN], { COLUMNS: "250" });
    expect(wide.out).toMatch(/HOST\s+WAVE\s+PIN\s+DESIRED\s+CURRENT/);
    expect(text.out).toMatch(/canary-1: last error RolledBack/);
    const json = await cli(["status", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--json", "--host", "web-1"]);
    const report = JSON.parse(json.out) as StatusReport;
    expect(report.hosts.map((h) => h.host)).toEqual(["web-1"]);
    expect(report.rollouts[0]).toMatchObject({ rev: C, state: "halted" });
    const md = await cli(["status", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--markdown", "--wave", "web"]);
    expect(md.out).toContain("| Host | Wave |");
    expect(md.out).toContain("| web-2 | web |");
    expect(md.out).not.toContain("| canary-1 |");
  });

  it("explains a missing token and an unreachable controller", async () => {
    const noToken = await cli(["status", "--controller", ctl.url]);
    expect(noToken.code).toBe(1);
    expect(noToken.err).toMatch(/HTTP 401.*FLOTILLA_TOKEN/);
    const down = await cli(["status", "--controller", "http://127.0.0.1:9", "--token", "x"]);
    expect(down.err).toMatch(/cannot reach the controller at http:\/\/127.0.0.1:9/);
  });

  it("prints the audit trail with commit titles and authors", async () => {
    const a = await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--json", "--since", "1h"]);
    const audit = JSON.parse(a.out) as AuditReport;
    expect(audit.entries.find((e) => e.kind === "event" && e.phase === "rolledBack")).toMatchObject({ host: "canary-1", rev: C, title: "initial fleet", author: "Flotilla Test" });
    expect(audit.entries.find((e) => e.kind === "decision" && e.outcome === "halted")).toBeTruthy();
    const byHost = await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--host", "web-1"]);
    expect(byHost.out).toBe("no audit entries\n");
    const text = await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN], { COLUMNS: "250" });
    expect(text.out).toMatch(/canary-1\s+event\s+verifying\s+failed\s+HealthCheckFailed/);
    expect(text.out).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +canary-1 /m); // to the second, no milliseconds
    const narrow = await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN], { COLUMNS: "90" });
    for (const line of narrow.out.trimEnd().split("\n")) expect(line.length, line).toBeLessThanOrEqual(90);
    expect(narrow.out).toMatch(/canary-1 +event/);
  });
});

describe("dashboard in headless Chromium", () => {
  it("loads, lists hosts, shows the halted rollout and refreshes itself", async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package "chromium" (apt-get install chromium)`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const page = await browser.newPage();
    const denied = await page.goto(`${ctl.url}/`);
    expect(denied!.status()).toBe(401);
    await page.goto(`${ctl.url}/?token=${OPERATOR_TOKEN}`);
    expect(page.url()).toBe(`${ctl.url}/`);
    await page.goto(`${ctl.url}/?refresh=1`);
    expect(await page.title()).toMatch(/Flotilla — main halted/);
    const hosts = await page.locator("#hosts tr[data-host]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-host")));
    expect(hosts).toEqual(["canary-1", "web-1", "web-2", "db-1"]);
    await expect.poll(() => page.locator(`section.rollout[data-rev="${C}"]`).getAttribute("data-state")).toBe("halted");
    expect(await page.locator(".banner.halted").innerText()).toMatch(/Rollout halted/);
    expect(await page.locator('tr[data-wave="web"] td.halted').count()).toBe(1);
    // a new report shows up without any reload by us
    const web = new SimAgent(signers["web-2"]!, ctl.url);
    web.seq = 10;
    await web.send(web.event({ phase: "failed", outcome: "failed", rev: C, reason: "BuildFailed" }));
    await expect.poll(() => page.locator('tr[data-host="web-2"]').getAttribute("data-health"), { timeout: 8_000 }).toBe("Degraded");
  });
});
