/**
 * The dashboard's routes: `/` (the fleet, `?rev=` a commit's rollout),
 * `/hosts/{host}` (one host), each also as `?fragment=1` (just the live part,
 * for the page's own updates). The main page lists hosts needing attention in
 * full and the healthy ones a page at a time (`?page=`, `?per=` rows a page,
 * 10–1000, default 100), both narrowed by `?q=` (a name substring or glob);
 * `?wave=` and `?host=` narrow the whole report. Read with an operator token
 * (bearer or the cookie `/?token=` sets); action buttons only for tokens with
 * role operate.
 * Every answer carries a Content-Security-Policy allowing nothing but this
 * answer's own inline style and script (by nonce) and requests to this
 * origin, so markup that slipped into a page could not run.
 */
import { randomBytes } from "node:crypto";
import type { Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Coordinator } from "../coordinator.js";
import { HttpError } from "../errors.js";
import { renderDashboard } from "../report/render-html.js";
import { renderHostPage, renderUnknownHost } from "../report/render-host.js";
import { bearer, type OperatorAuth, TOKEN_COOKIE } from "./auth.js";
import { intParam } from "./query.js";

/** Events a host page shows (newest). */
const HOST_EVENTS = 100;

function secure(c: Context, nonce: string): void {
  c.header("content-security-policy", `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`);
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "same-origin");
  c.header("cache-control", "no-store");
}

export function mountDashboard(app: Hono, o: { coordinator: Coordinator; auth: OperatorAuth }): void {
  /** Who is looking: null when no (valid) token and anonymous reads are off. */
  const viewer = (c: Context): { canOperate: boolean } | null => {
    const who = o.auth.identify(bearer(c.req.header("authorization")) ?? getCookie(c, TOKEN_COOKIE));
    if (!who && !o.auth.allowAnonymous) return null;
    return { canOperate: who?.role === "operate" };
  };
  const denied = (c: Context) => c.html("<!doctype html><title>Flotilla</title><p>Operator token required: open <code>/?token=&lt;token&gt;</code>.</p>", 401);
  const common = (c: Context) => ({
    refreshSeconds: intParam(c.req.query("refresh"), "refresh", 1, 3600) ?? 5,
    fragment: c.req.query("fragment") === "1",
    nonce: randomBytes(16).toString("base64"),
  });

  // Browsers cannot send a bearer header: /?token=… sets an HttpOnly cookie once, then redirects.
  app.get("/", async (c) => {
    const t = c.req.query("token");
    if (t) {
      if (!o.auth.check(t)) throw new HttpError(401, "Unauthorized", "unknown operator token");
      setCookie(c, TOKEN_COOKIE, t, { httpOnly: true, sameSite: "Strict", path: "/" });
      const rev = c.req.query("rev");
      return c.redirect(rev ? `/?rev=${encodeURIComponent(rev)}` : "/", 303);
    }
    const v = viewer(c);
    if (!v) return denied(c);
    const opts = common(c);
    const asked = c.req.query("rev");
    const sha = asked ? await o.coordinator.resolveRev(asked.toLowerCase()) : null;
    const q = c.req.query("q");
    if (q !== undefined && q.length > 200) throw new HttpError(400, "InvalidQuery", "q: expected a host name filter of at most 200 characters", "q");
    const pageNo = intParam(c.req.query("page"), "page", 1, 1_000_000);
    const perPage = intParam(c.req.query("per"), "per", 10, 1000);
    const report = await o.coordinator.status({ host: c.req.query("host"), wave: c.req.query("wave"), ...(sha ? { rev: sha } : {}) });
    secure(c, opts.nonce);
    const known = !asked || (sha !== null && report.rollouts.some((r) => r.rev === sha));
    // what the pager's and the filter's links keep
    const params: Record<string, string> = {};
    for (const k of ["rev", "wave", "host", "refresh", "per"]) {
      const val = c.req.query(k);
      if (val) params[k] = val;
    }
    const list = { ...(q ? { q } : {}), ...(pageNo ? { page: pageNo } : {}), ...(perPage ? { perPage } : {}), params };
    return c.html(renderDashboard(report, { ...opts, ...list, canOperate: v.canOperate, ...(asked ? { rev: { asked, sha: known ? sha : null } } : {}) }), known ? 200 : 404);
  });

  app.get("/hosts/:host", async (c) => {
    const v = viewer(c);
    if (!v) return denied(c);
    const opts = common(c);
    const host = c.req.param("host");
    const report = await o.coordinator.status({ host });
    secure(c, opts.nonce);
    const h = report.hosts.find((x) => x.host === host);
    if (!h) return c.html(renderUnknownHost(host, opts.nonce), 404);
    const audit = await o.coordinator.audit({ host, limit: HOST_EVENTS });
    return c.html(renderHostPage(report, h, audit, { ...opts, canOperate: v.canOperate }));
  });
}
