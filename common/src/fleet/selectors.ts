/**
 * Host selectors: exact names, globs over names ("web-*") and tags ("tag:web").
 */
import picomatch from "picomatch";

export interface Selectable {
  name: string;
  tags: string[];
}

export function isTagSelector(selector: string): boolean {
  return selector.startsWith("tag:");
}

/** Host names matched by one selector, in the order of `hosts`. */
export function resolveSelector(selector: string, hosts: readonly Selectable[]): string[] {
  if (isTagSelector(selector)) {
    const tag = selector.slice(4);
    return hosts.filter((h) => h.tags.includes(tag)).map((h) => h.name);
  }
  if (!/[*?[\]{}!]/.test(selector)) {
    return hosts.some((h) => h.name === selector) ? [selector] : [];
  }
  const match = picomatch(selector);
  return hosts.filter((h) => match(h.name)).map((h) => h.name);
}

export function resolveSelectors(selectors: readonly string[], hosts: readonly Selectable[]): string[] {
  const out = new Set<string>();
  for (const s of selectors) for (const n of resolveSelector(s, hosts)) out.add(n);
  return hosts.map((h) => h.name).filter((n) => out.has(n));
}
