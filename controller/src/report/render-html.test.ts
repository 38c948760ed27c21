import { describe, expect, it } from "vitest";
import { renderDashboard } from "./render-html.js";
import { renderHostPage } from "./render-host.js";
import { host, NOW, report, REV_A, REV_B, rollout } from "../testing/status-fixture.js";

const HOSTILE = `<img src=x onerror="alert(1)">\x1b[2J"'&`;

describe("dashboard HTML", () => {
  it("escapes host-controlled text and makes control characters visible", () => {
    const s = report({ rollouts: [rollout({ subject: HOSTILE, author: HOSTILE, pr: { number: 7, title: HOSTILE, author: null, mergedBy: null, url: `javascript:alert(1)` } })] });
    s.hosts[2]!.lastError = { reason: HOSTILE, message: HOSTILE };
    const html = renderDashboard(s, { nonce: "n0nce", canOperate: true });
    expect(html).not.toContain("<img");
    expect(html).not.toContain("\x1b");
    expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\x1b[2J&quot;&#39;&amp;");
    expect(html).not.toContain("javascript:"); // only http(s) links
    expect(html).toContain('<script nonce="n0nce">');
    expect(html).toContain('<style nonce="n0nce">');
    expect(html).toContain('<noscript><meta http-equiv="refresh" content="5"></noscript>');
  });

  it("relative times in <time> elements, no raw ISO timestamps in the text", () => {
    const html = renderDashboard(report(), { nonce: "n" });
    expect(html).toMatch(/promotes <time datetime="2026-01-01T12:00:20.000Z"[^>]*>in 20 s<\/time>/);
    expect(html).toMatch(/opens <time datetime="2026-01-01T12:00:20.000Z"[^>]*>in 20 s<\/time>/);
    expect(html.replace(/<[^>]*>/g, "")).not.toMatch(/\d{4}-\d\d-\d\dT/);
  });

  it("counters, links, buttons only for operate, ?rev= first or a message", () => {
    const s = report();
    const html = renderDashboard(s, { nonce: "n", canOperate: false });
    expect(html).toContain('<li data-count="healthy" class="Healthy"><b>2</b> healthy</li>');
    expect(html).toContain('<li data-count="failed" class="Degraded"><b>1</b> failed</li>');
    expect(html).toContain('<a href="/hosts/web-2">web-2</a>');
    expect(html).toContain(`<a href="/?rev=${REV_A}">`);
    expect(html).not.toContain("<button");
    expect(renderDashboard(s, { nonce: "n", canOperate: true })).toContain('data-action="pause"');
    const unknown = renderDashboard(s, { nonce: "n", rev: { asked: "<b>", sha: null } });
    expect(unknown).toContain('id="rev-unknown">Unknown revision “&lt;b&gt;”');
    const two = report({ rollouts: [rollout(), rollout({ rev: REV_B, subject: "older" })] });
    const chosen = renderDashboard(two, { nonce: "n", rev: { asked: REV_B.slice(0, 8), sha: REV_B } });
    expect(chosen.indexOf(`data-rev="${REV_B}"`)).toBeLessThan(chosen.indexOf(`data-rev="${REV_A}"`));
    expect(chosen).toContain(`id="rev-rollout" data-rev="${REV_B}"`);
  });

  it("fragment: only the live part", () => {
    const f = renderDashboard(report(), { nonce: "n", fragment: true });
    expect(f.startsWith('<main id="live"')).toBe(true);
    expect(f).not.toContain("<script");
  });
});

describe("host page HTML", () => {
  it("last error, failed revisions with retry (operate only), timeline newest first", () => {
    const s = report();
    const h = s.hosts.find((x) => x.host === "web-2")!;
    const audit = {
      generatedAt: s.generatedAt,
      entries: [
        { time: new Date(NOW - 60_000).toISOString(), host: "web-2", kind: "event" as const, phase: "activating", outcome: "started", reason: "Progressing", rev: REV_B, pr: null, title: "t", author: null, mergedBy: null, durations: null, message: null },
        { time: new Date(NOW - 30_000).toISOString(), host: "web-2", kind: "event" as const, phase: "verifying", outcome: "failed", reason: "HealthCheckFailed", rev: REV_B, pr: null, title: "t", author: null, mergedBy: null, durations: null, message: HOSTILE },
      ],
    };
    const html = renderHostPage(s, h, audit, { nonce: "n", canOperate: true });
    expect(html).toContain('<p class="error" id="last-error-reason">HealthCheckFailed</p>');
    expect(html).toContain("http://localhost/ answered 502\nsecond line");
    expect(html).toContain(`data-action="retry" data-host="web-2" data-rev="${REV_B}"`);
    expect(html).toContain(`data-log-rev="${REV_B}"`);
    expect(html.indexOf('data-phase="verifying"')).toBeLessThan(html.indexOf('data-phase="activating"'));
    expect(html).not.toContain("<img");
    expect(renderHostPage(s, h, audit, { nonce: "n", canOperate: false })).not.toContain("<button");
    const clean = renderHostPage(s, host("web-1"), { generatedAt: s.generatedAt, entries: [] }, { nonce: "n" });
    expect(clean).toContain('id="no-error">No error reported.');
    expect(clean).toContain("No events from this host yet.");
  });
});
