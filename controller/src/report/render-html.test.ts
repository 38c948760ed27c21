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

describe("dashboard host list for a large fleet", () => {
  const many = (n: number) =>
    report({
      hosts: Array.from({ length: n }, (_, i) => {
        const name = `web-${String(i).padStart(4, "0")}`;
        if (i === 7) return host(name, { phase: "failed", health: "Degraded", failedRevs: [REV_A], lastError: { reason: "HealthCheckFailed", message: "503" } });
        if (i === 250) return host(name, { stale: true, health: "Unknown", lastSeen: new Date(NOW - 3 * 3600_000).toISOString() });
        if (i === 3) return host(name, { phase: "activating", health: "Progressing" });
        return host(name);
      }),
    });
  const rowsOf = (html: string, body: string) => [...(html.split(`<tbody id="${body}"`)[1]!.split("</tbody>")[0]!.matchAll(/<tr data-host="([^"]+)"/g))].map((m) => m[1]);

  it("every host needing attention first, most urgent first; healthy hosts a page at a time with links that keep the other parameters", () => {
    const s = many(450);
    const html = renderDashboard(s, { nonce: "n", params: { rev: REV_A, refresh: "2" } });
    expect(rowsOf(html, "attention")).toEqual(["web-0007", "web-0250", "web-0003"]);
    expect(html).toContain('data-host="web-0007" data-health="Degraded" data-reboot="no" data-attention="failed"');
    const healthy = rowsOf(html, "healthy");
    expect(healthy).toHaveLength(100);
    expect(healthy[0]).toBe("web-0000");
    expect(html).toContain("Healthy: 447, showing 1–100");
    expect(html).toContain('<li data-count="total"><b>450</b> hosts</li>'); // counters: the whole fleet
    expect(html).toContain(`<a id="next-page" rel="next" href="/?rev=${REV_A}&amp;refresh=2&amp;page=2">`);
    expect(html).not.toContain('id="prev-page"');
    const last = renderDashboard(s, { nonce: "n", page: 99 }); // clamped to the last page
    expect(rowsOf(last, "healthy")).toEqual(Array.from({ length: 47 }, (_, i) => `web-${String(403 + i).padStart(4, "0")}`));
    expect(last).toContain('<nav id="pager" data-page="5" data-pages="5"><a id="prev-page" rel="prev" href="/?page=4">');
    expect(rowsOf(last, "attention")).toHaveLength(3); // on every page
  });

  it("a name filter (substring or glob) narrows both lists, not the counters", () => {
    const s = many(450);
    const sub = renderDashboard(s, { nonce: "n", q: "web-02" });
    expect(rowsOf(sub, "attention")).toEqual(["web-0250"]);
    expect(rowsOf(sub, "healthy")).toHaveLength(99);
    expect(sub).toContain("Healthy matching “web-02”: 99");
    expect(sub).toContain('<a id="filter-clear" href="/">show all</a>');
    const glob = renderDashboard(s, { nonce: "n", q: "web-00?7" });
    expect(rowsOf(glob, "attention")).toEqual(["web-0007"]);
    expect(rowsOf(glob, "healthy")).toEqual(["web-0017", "web-0027", "web-0037", "web-0047", "web-0057", "web-0067", "web-0077", "web-0087", "web-0097"]);
    const hostile = renderDashboard(s, { nonce: "n", q: '"><img src=x>', params: { wave: "<i id=x>" } });
    expect(hostile).not.toContain("<img");
    expect(hostile).not.toContain("<i id=x>");
    expect(hostile).toContain(`<input type="hidden" name="wave" value="&lt;i id=x&gt;">`);
  });
});
