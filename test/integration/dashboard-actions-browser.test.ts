// Operator actions from the dashboard in real headless Chromium against a
// real controller: click Retry on a host's failed revision and Approve on a
// wave awaiting approval, answer the reason prompt, and see the effect (the
// recorded action in the API, the audit and the page). Needs the operator
// action API (POST /api/v1/hosts/{host}/retry, /api/v1/rollouts/{rev}/approve).
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSigner } from "../../common/src/signing.js";
import { api, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, SimAgent, startTestController, waitFor } from "./controller/harness.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

let signers: Record<string, HostSigner>;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let C: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package "chromium" (apt-get install chromium)`);
  signers = await makeHostSigners(["canary-1", "canary-2", "web-1"]);
  // canary promotes with one of two healthy (maxUnavailable 1); web waits for an operator's approval
  const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1", "canary-2"], maxUnavailable: 1 }, { name: "web", members: ["web-1"], approval: "manual" }] });
  C = await repo.head();
  ctl = await startTestController({ repo });
  const ok = new SimAgent(signers["canary-1"]!, ctl.url);
  await ok.send(...ok.deployed(C));
  const bad = new SimAgent(signers["canary-2"]!, ctl.url);
  await bad.send(...bad.failed(C));
  const web = new SimAgent(signers["web-1"]!, ctl.url);
  await web.send(web.heartbeat({ currentRev: null, healthy: true, phase: "idle" }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await ctl?.stop();
});

async function operator(): Promise<{ page: Page; prompts: string[] }> {
  const page = await browser.newPage();
  const prompts: string[] = [];
  page.on("dialog", (d) => {
    prompts.push(d.message());
    void d.accept("vouched for by the test");
  });
  await page.goto(`${ctl.url}/?token=${OPERATOR_TOKEN}`);
  return { page, prompts };
}

describe("operator actions from the dashboard (headless Chromium)", () => {
  it("Retry on a failed revision records the retry with the reason", async () => {
    const { page, prompts } = await operator();
    await page.goto(`${ctl.url}/hosts/canary-2`);
    const retry = page.locator(`#failed-revs button[data-action="retry"][data-rev="${C}"]`);
    await retry.click();
    await expect.poll(() => page.locator("#flash").innerText(), { timeout: 10_000 }).toMatch(/retry canary-2 [0-9a-f]{12}: recorded \(action \d+\)/);
    expect(prompts[0]).toMatch(/Reason for retry canary-2/);
    const actions = await api<{ actions: { action: string; host: string; rev: string; reason: string; actor: string }[] }>(ctl.url, "/api/v1/actions?host=canary-2");
    expect(actions.body.actions[0]).toMatchObject({ action: "retry", host: "canary-2", rev: C, reason: "vouched for by the test", actor: "ops" });
    await expect.poll(() => page.locator("#actions-body").innerText(), { timeout: 10_000 }).toMatch(/retry [0-9a-f]{12} by ops: vouched for by the test/);
  });

  it("Approve on a wave awaiting approval opens it", async () => {
    const { page } = await operator();
    await waitFor(async () => (await api<{ rollouts: { rev: string; waves: { name: string; state: string }[] }[] }>(ctl.url, "/api/v1/status")).body.rollouts[0]?.waves[0]?.state === "promoted", "the canary wave promoted");
    await page.goto(`${ctl.url}/`);
    const approve = page.locator(`section.rollout[data-rev="${C}"] tr[data-wave="web"] button[data-action="approve"]`);
    await approve.click();
    await expect.poll(() => page.locator("#flash").innerText(), { timeout: 10_000 }).toMatch(/approve [0-9a-f]{12} wave web: recorded/);
    await expect.poll(() => page.locator(`section.rollout[data-rev="${C}"] tr[data-wave="web"] td:nth-child(2)`).innerText(), { timeout: 10_000 }).not.toBe("pending");
    expect(await page.locator(`section.rollout[data-rev="${C}"] tr[data-wave="web"] button[data-action="approve"]`).count()).toBe(0);
  });
});
