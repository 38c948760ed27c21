/**
 * HTML building blocks of the dashboard. Everything host-controlled (host
 * names, reasons, messages, commit subjects, PR titles) goes through text():
 * control characters made visible (as in the CLI), then HTML-escaped, so
 * neither markup nor terminal sequences survive. Links are built from
 * encoded path segments; external links only for http(s) URLs. Pure.
 */
import { relativeIso } from "./time.js";
import { visible } from "./visible.js";

const ESC: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes for an HTML text node or a quoted attribute value. */
export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ESC[c]!);

// eslint-disable-next-line no-control-regex
const NEEDS_WORK = /[&<>"'\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Untrusted text, safe anywhere in text or a quoted attribute. (Most text needs nothing: one test, no copies.) */
export const text = (s: string): string => (NEEDS_WORK.test(s) ? esc(visible(s)) : s);

/** Untrusted multi-line text (for a <pre>): line breaks kept, everything else as text(). */
export const lines = (s: string): string => s.split("\n").map(text).join("\n");

export const short = (sha: string | null | undefined): string => (sha ? sha.slice(0, 12) : "-");

export const hostHref = (host: string): string => `/hosts/${encodeURIComponent(host)}`;
export const revHref = (rev: string): string => `/?rev=${encodeURIComponent(rev)}`;

const revLinks = new Map<string, string>();
/** A link to a commit's rollout on the main page, or "-" (memoized: a fleet has few distinct revisions). */
export function revLink(rev: string | null | undefined): string {
  if (!rev) return "-";
  let html = revLinks.get(rev);
  if (html === undefined) {
    html = /^[0-9a-f]{40}$/.test(rev) ? `<a href="${revHref(rev)}"><code>${short(rev)}</code></a>` : "-";
    if (revLinks.size > 10_000) revLinks.clear();
    revLinks.set(rev, html);
  }
  return html;
}

/** An external link, only for http(s) URLs; otherwise the label alone. */
export function extLink(url: string | null | undefined, label: string): string {
  if (!url || !/^https?:\/\/[^\s"'<>]+$/i.test(url)) return label;
  return `<a href="${esc(url)}" rel="noopener noreferrer">${label}</a>`;
}

/** A relative time that the page's script keeps current ("in 20 s" → "in 19 s"); "-" for none. */
export function timeEl(iso: string | null | undefined, now: number, never = "-"): string {
  if (!iso) return never;
  return `<time datetime="${esc(iso)}">${relativeIso(iso, now)}</time>`;
}

export interface PageOptions {
  title: string;
  nonce: string;
  /** Seconds between updates (the script's polling; the meta refresh without JavaScript). */
  refreshSeconds: number;
  canOperate: boolean;
  style: string;
  script: string;
}

/**
 * The document around a page's live part (`live`: the <main id="live"> element, with
 * data-generated and data-title). The script replaces #live
 * with a fresh copy fetched with ?fragment=1 every refreshSeconds, so the
 * scroll position and anything typed stay; without JavaScript, the meta
 * refresh in <noscript> reloads the page instead.
 */
export function page(o: PageOptions, live: string, after = ""): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<noscript><meta http-equiv="refresh" content="${o.refreshSeconds}"></noscript>
<title>${text(o.title)}</title><style nonce="${o.nonce}">${o.style}</style></head>
<body data-refresh="${o.refreshSeconds}" data-operate="${o.canOperate ? "yes" : "no"}">
<p id="flash" role="status" hidden></p>
${live}
${after}
<script nonce="${o.nonce}">${o.script}</script>
</body></html>
`;
}

/** An operator action button; hidden until the script runs (it needs JavaScript), and only rendered for operate tokens. */
export function actionButton(canOperate: boolean, action: string, label: string, data: Record<string, string>, destructive = false): string {
  if (!canOperate) return "";
  const attrs = Object.entries(data).map(([k, v]) => ` data-${k}="${esc(v)}"`).join("");
  return `<button type="button" class="action${destructive ? " danger" : ""}" data-action="${esc(action)}"${attrs} hidden>${esc(label)}</button>`;
}
