/**
 * The main page's host list for a fleet of thousands: every host needing
 * attention (failed, stale, deploying, …: summary.ts attention()) in full,
 * most urgent first, then the healthy ones a page at a time, both narrowed
 * by an optional name filter (a substring, or a glob with * and ?). Pure.
 */
import type { HostStatus } from "../../../schemas/src/api.js";
import { ATTENTION, attention, type Attention } from "./summary.js";

/** Healthy hosts per page. */
export const HOSTS_PER_PAGE = 100;

export interface HostList {
  /** Hosts needing attention, most urgent first (fleet order within a kind), with why. */
  attention: { host: HostStatus; why: Attention }[];
  /** This page of the healthy hosts. */
  healthy: HostStatus[];
  /** Healthy hosts matching the filter, on every page. */
  healthyTotal: number;
  /** 1-based, clamped to [1, pages]. */
  page: number;
  pages: number;
  /** The first healthy host shown, 0-based (for "101–200 of 9,897"). */
  offset: number;
}

/** A name filter: "web" matches names containing it; "web-*", "db-0?" are globs over the whole name. */
export function nameMatcher(q: string | undefined): (name: string) => boolean {
  const f = q?.trim().toLowerCase();
  if (!f) return () => true;
  if (!/[*?]/.test(f)) return (n) => n.toLowerCase().includes(f);
  return (n) => globMatch(f, n.toLowerCase());
}

/**
 * `*` and `?` over the whole name, in O(pattern × name) whatever the
 * pattern (the filter comes from the query string: a regex built from
 * `a*a*a*…` would backtrack exponentially).
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let mark = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === "?" || pattern[p] === name[n])) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === "*") p++;
  return p === pattern.length;
}

export function hostList(hosts: readonly HostStatus[], o: { rev?: string | null; q?: string; page?: number; perPage?: number }): HostList {
  const match = nameMatcher(o.q);
  const per = o.perPage ?? HOSTS_PER_PAGE;
  const urgent: { host: HostStatus; why: Attention }[] = [];
  const healthy: HostStatus[] = [];
  for (const h of hosts) {
    if (!match(h.host)) continue;
    const why = attention(h, o.rev);
    if (why) urgent.push({ host: h, why });
    else healthy.push(h);
  }
  const rank = (w: Attention) => ATTENTION.indexOf(w);
  urgent.sort((a, b) => rank(a.why) - rank(b.why)); // stable: fleet order within a kind
  const pages = Math.max(1, Math.ceil(healthy.length / per));
  const page = Math.min(Math.max(1, o.page ?? 1), pages);
  const offset = (page - 1) * per;
  return { attention: urgent, healthy: healthy.slice(offset, offset + per), healthyTotal: healthy.length, page, pages, offset };
}
