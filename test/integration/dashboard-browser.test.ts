// The dashboard in real headless Chromium against a real controller: follow
// a link to a host page, the host's last error, live updates that keep the
// scroll position (no reload), ?rev= for a commit outside the recent
// rollouts and for an unknown one, operator buttons only for operate
// tokens, host-controlled text (error messages, commit subjects) inert, and
// the host list of a large fleet: hosts needing attention first and in full,
// healthy ones paged (following the "next" link) and filtered by name.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostSigner } from "../../common/src/signing.js";
import { makeHostSigners, newFleetRepo, OPERATOR_TOKEN, READ_TOKEN, SimAgent, startTestController } from "./controller/harness.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const WEB = Array.from({ length: 30 }, (_, i) => `web-${String(i + 1).padStart(2, "0")}`);
const HOSTILE = `<img src=x id=pwned-img onerror="window.pwned=1">\x1b[31m<script>window.pwned=2</script>`;

let signers: Record<string, HostSigner>;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let first: string;
let head: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install the Debian package "chromium" (apt-get install chromium)`);
  signers = await makeHostSigners(["canary-1", ...WEB]);
  const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: WEB }] });
  first = await repo.head();
  // six more commits: the first one is no longer among the five recent rollouts
  for (let i = 1; i <= 5; i++) await repo.commit({ [`notes/${i}.txt`]: `${i}\n` }, `notes ${i}`);
  head = await repo.commit({ "notes/6.txt": "6\n" }, `hostile subject ${HOSTILE}`);
  ctl = await startTestController({ repo });
  for (const h of WEB) {
    const a = new SimAgent(signers[h]!, ctl.url);
    await a.send(a.heartbeat({ currentRev: first, healthy: true, phase: "idle" }));
  }
  const canary = new SimAgent(signers["canary-1"]!, ctl.url);
  canary.seq = 1;
  await canary.send(
    canary.event({ phase: "verifying", outcome: "failed", rev: head, generation: "/nix/store/00000000000000000000000000000000-system", reason: "HealthCheckFailed", error: { reason: "HealthCheckFailed", message: `http:health: HTTP 503 ${HOSTILE}\nsecond line` } }),
    canary.event({ phase: "rolledBack", outcome: "succeeded", rev: head, generation: null, reason: "RolledBack", previous: { rev: null, generation: null } }),
  );
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await ctl?.stop();
});

async function login(token: string, viewport = { width: 1200, height: 400 }): Promise<Page> {
  const page = await browser.newPage({ viewport });
  page.on("dialog", (d) => void d.dismiss());
  await page.goto(`${ctl.url}/?token=${token}`);
  return page;
}

describe("dashboard in headless Chromium", () => {
  it("shows counters and the rollout's commit, follows a link to a host page with its last error", async () => {
    const page = await login(OPERATOR_TOKEN);
    await page.goto(`${ctl.url}/`);
    expect(await page.locator('#counters li[data-count="failed"] b').innerText()).toBe("1");
    expect(await page.locator('#counters li[data-count="total"] b').innerText()).toBe("31");
    const section = page.locator(`section.rollout[data-rev="${head}"]`);
    expect(await section.locator("h3").innerText()).toContain("hostile subject <img src=x");
    expect(await section.locator("h3").innerText()).toContain("by Flotilla Test");
    expect(await section.locator('tr[data-wave="canary"] td.halted').count()).toBe(1);
    await page.locator('#hosts a[href="/hosts/canary-1"]').click();
    await page.waitForURL(`${ctl.url}/hosts/canary-1`);
    expect(await page.locator("h1").innerText()).toMatch(/Host canary-1/);
    expect(await page.locator("#last-error-reason").innerText()).toBe("RolledBack");
    expect(await page.locator("#last-failure-message").innerText()).toContain("http:health: HTTP 503 <img src=x");
    expect(await page.locator("#last-failure-message").innerText()).toContain("\\x1b[31m"); // the escape made visible, not interpreted
    expect(await page.locator(`#failed-revs tr[data-rev="${head}"]`).count()).toBe(1);
    expect(await page.locator(`#failed-revs button[data-action="retry"][data-rev="${head}"]`).isVisible()).toBe(true);
    expect(await page.locator("#timeline tr[data-phase]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-phase")))).toEqual(["rolledBack", "verifying"]);
    // nothing host-controlled ran or became markup
    expect(await page.evaluate("window.pwned")).toBeUndefined();
    expect(await page.locator("#pwned-img").count()).toBe(0);
    // back to the fleet by a link
    await page.locator('nav a[href="/"]').click();
    await page.waitForURL(`${ctl.url}/`);
    expect(await page.locator("#pwned-img").count()).toBe(0);
    expect(await page.evaluate("window.pwned")).toBeUndefined();
  });

  it("updates in place: the scroll position is kept and the page is not reloaded", async () => {
    const page = await login(OPERATOR_TOKEN);
    await page.goto(`${ctl.url}/?refresh=1`);
    await page.evaluate("window.scrollTo(0, 600); window.marker = 42;");
    expect(await page.evaluate("window.scrollY")).toBe(600);
    const before = await page.locator("#live").getAttribute("data-generated");
    const web = new SimAgent(signers["web-07"]!, ctl.url);
    web.seq = 10;
    await web.send(web.event({ phase: "failed", outcome: "failed", rev: first, reason: "BuildFailed" }));
    await expect.poll(() => page.locator('tr[data-host="web-07"]').getAttribute("data-health"), { timeout: 10_000 }).toBe("Degraded");
    expect(await page.locator("#live").getAttribute("data-generated")).not.toBe(before);
    expect(await page.evaluate("window.marker")).toBe(42); // no reload
    expect(await page.evaluate("window.scrollY")).toBe(600);
    expect(await page.locator('#counters li[data-count="failed"] b').innerText()).toBe("2");
  });

  it("honours ?rev= for a commit outside the recent rollouts, and says so for an unknown one", async () => {
    const page = await login(READ_TOKEN);
    await page.goto(`${ctl.url}/?rev=${first}`);
    expect(await page.locator("#rev-rollout").getAttribute("data-rev")).toBe(first);
    expect(await page.locator("#rev-rollout h3").innerText()).toContain("initial fleet");
    const byPrefix = await page.goto(`${ctl.url}/?rev=${first.slice(0, 10)}`);
    expect(byPrefix!.status()).toBe(200);
    expect(await page.locator("#rev-rollout").getAttribute("data-rev")).toBe(first);
    const unknown = await page.goto(`${ctl.url}/?rev=0123456789abcdef0123456789abcdef01234567`);
    expect(unknown!.status()).toBe(404);
    expect(await page.locator("#rev-unknown").innerText()).toMatch(/Unknown revision “0123456789abcdef0123456789abcdef01234567”: this controller has not seen such a commit on main/);
    const junk = await page.goto(`${ctl.url}/?rev=${encodeURIComponent('"><b id=x>')}`);
    expect(junk!.status()).toBe(404);
    expect(await page.locator("b#x").count()).toBe(0);
  });

  it("shows operator buttons only to operate tokens; the CSP allows only the page's own script", async () => {
    const reader = await login(READ_TOKEN);
    await reader.goto(`${ctl.url}/hosts/canary-1`);
    expect(await reader.locator("button.action").count()).toBe(0);
    const op = await login(OPERATOR_TOKEN);
    const res = await op.goto(`${ctl.url}/hosts/canary-1`);
    expect(res!.headers()["content-security-policy"]).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    expect(await op.locator('button.action[data-action="hold"]').isVisible()).toBe(true);
    // the host page works without the logs and actions APIs: each section says so
    await expect.poll(() => op.locator("#logs-body").innerText(), { timeout: 5_000 }).toMatch(/not available|No deploy log|\S/);
    const missing = await op.goto(`${ctl.url}/hosts/no-such-host`);
    expect(missing!.status()).toBe(404);
    expect(await op.locator("#unknown-host").innerText()).toContain("No host “no-such-host”");
  });

  it("lists hosts needing attention first and in full, pages through the healthy ones by the next link, filters by name", async () => {
    const page = await login(READ_TOKEN);
    const rows = (body: string) => page.locator(`#${body} tr[data-host]`).evaluateAll((rs) => rs.map((r) => r.getAttribute("data-host")));
    await page.goto(`${ctl.url}/?per=10`);
    const attention = await rows("attention");
    expect(attention[0]).toBe("canary-1"); // failed: first
    expect(await page.locator('#attention tr[data-host="canary-1"]').getAttribute("data-attention")).toBe("failed");
    const healthy = WEB.filter((h) => !attention.includes(h));
    expect(await rows("healthy")).toEqual(healthy.slice(0, 10));
    expect(await page.locator("#pager").getAttribute("data-pages")).toBe(String(Math.ceil(healthy.length / 10)));
    expect(await page.locator("#prev-page").count()).toBe(0);
    // page 2 by the link, as an operator clicks it: the attention list stays, the filter's parameters too
    await page.locator("#next-page").click();
    await page.waitForURL(`${ctl.url}/?per=10&page=2`);
    expect(await rows("attention")).toEqual(attention);
    expect(await rows("healthy")).toEqual(healthy.slice(10, 20));
    // live updates keep the page
    await page.goto(`${ctl.url}/?per=10&page=2&refresh=1`);
    const before = await page.locator("#live").getAttribute("data-generated");
    await expect.poll(() => page.locator("#live").getAttribute("data-generated"), { timeout: 10_000 }).not.toBe(before);
    expect(await rows("healthy")).toEqual(healthy.slice(10, 20));
    await page.locator("#next-page").click();
    await page.waitForURL(`${ctl.url}/?refresh=1&per=10&page=3`);
    expect(await rows("healthy")).toEqual(healthy.slice(20, 30));
    expect(await page.locator("#next-page").count()).toBe(0);
    expect(await page.locator("#prev-page").getAttribute("href")).toBe("/?refresh=1&per=10&page=2");
    // the name filter: typing is not undone by a live update (the page refreshes every second)
    const field = page.locator('#host-filter input[name="q"]');
    await field.fill("web-1");
    await page.waitForTimeout(2_500);
    expect(await field.inputValue()).toBe("web-1");
    await field.press("Enter");
    await page.waitForURL(`${ctl.url}/?refresh=1&per=10&q=web-1`);
    expect(await rows("attention")).toEqual(attention.filter((h) => h.includes("web-1")));
    expect(await rows("healthy")).toEqual(healthy.filter((h) => h.includes("web-1")));
    expect(await page.locator("#pager").count()).toBe(0); // 10 or fewer: one page
    await page.locator("#filter-clear").click();
    await page.waitForURL(`${ctl.url}/?refresh=1&per=10`);
    expect(await rows("healthy")).toEqual(healthy.slice(0, 10));
  });
});
