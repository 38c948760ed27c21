/**
 * Cost of a maintenance-window check (common/src/window/window.ts): "open?"
 * alone (the common case inside a window) and "closed, when does it open?"
 * (the search over 9 days of range starts and DST transitions), against the
 * floor: one Intl.DateTimeFormat#formatToParts call, which every check needs.
 *
 *   node --import tsx bench/window.ts
 */
import { isOpen, windowState, type WindowSpec } from "../common/src/window/window.js";

const w: WindowSpec = { timeZone: "Europe/Berlin", source: "bench", ranges: [{ days: [6, 7], fromMin: 22 * 60, toMin: 4 * 60 }] };
const fmt = new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Berlin", hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric" });
const t0 = Date.parse("2026-12-02T10:00:00Z"); // a Wednesday: closed

function time(label: string, n: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < 200; i++) fn(i);
  const s = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  const us = ((performance.now() - s) / n) * 1000;
  console.log(`${label}: ${us.toFixed(1)} µs/call`);
  return us;
}

const floor = time("floor: formatToParts", 20_000, (i) => fmt.formatToParts(t0 + i * 60_000));
const open = time("isOpen", 20_000, (i) => isOpen(w, t0 + i * 60_000));
const next = time("windowState, closed (next opening)", 2_000, (i) => windowState(w, t0 + i * 60_000));
console.log(`ratios vs floor: isOpen ${(open / floor).toFixed(1)}x, next opening ${(next / floor).toFixed(0)}x`);
