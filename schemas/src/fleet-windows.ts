/**
 * Maintenance windows and reboot policy of the fleet file (`window:` on a
 * wave, `windows:` per tag or host, `reboot:`). Kept apart from fleet.ts so
 * the shapes and their prose sit together; fleet.ts references them.
 */
import { z } from "zod";
import { Selector } from "./common.js";
import { durationAtMost } from "./common.js";

import { WEEKDAYS } from "./names.js";

export { WEEKDAYS };
export type Weekday = (typeof WEEKDAYS)[number];

const TIME_OF_DAY = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const TIME_OF_DAY_END = /^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;

export const WindowRange = z
  .strictObject({
    days: z.array(z.enum(WEEKDAYS)).min(1).optional().describe("Days the range starts on (mon … sun). Default: every day."),
    from: z.string().regex(TIME_OF_DAY, { message: 'expected a time of day "HH:MM" (00:00 … 23:59)' }).describe('Local wall-clock time the range opens, "HH:MM".'),
    to: z
      .string()
      .regex(TIME_OF_DAY_END, { message: 'expected a time of day "HH:MM" (00:01 … 24:00)' })
      .describe('Local wall-clock time it closes, "HH:MM" or "24:00". Earlier than `from`: the range crosses midnight and closes on the next day.'),
  })
  .describe("A weekly time range, on the window's time zone's wall clock.");
export type WindowRange = z.infer<typeof WindowRange>;

export const MaintenanceWindow = z
  .strictObject({
    timeZone: z.string().min(1).describe('IANA time zone name, e.g. "Europe/Berlin" or "UTC".'),
    ranges: z.array(WindowRange).min(1).describe("Open while any range is open."),
  })
  .describe(
    "When hosts may start a deploy or a reboot. Ranges are wall-clock times in `timeZone`: a range whose start falls in a daylight-saving gap opens when the clock jumps past it; during a repeated hour (clocks going back) a range over that hour is open both times.",
  );
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

export const WindowGroup = z
  .strictObject({
    on: z.array(Selector).min(1).describe("Hosts this window applies to: names, globs or tag:<tag>. An exact host name beats a glob or tag, which beats the wave's window."),
    ...MaintenanceWindow.shape,
  })
  .describe("The maintenance window of a set of hosts.");

export const REBOOT_POLICIES = ["never", "auto"] as const;

export const RebootOverride = z
  .strictObject({
    on: z.array(Selector).min(1).describe("Hosts this policy applies to: names, globs or tag:<tag>. An exact host name beats a glob or tag."),
    policy: z.enum(REBOOT_POLICIES),
  })
  .describe("The reboot policy of a set of hosts.");

export const RebootPolicy = z
  .strictObject({
    policy: z.enum(REBOOT_POLICIES).optional().describe('never: only report needsReboot (default). auto: a NixOS host whose generation needs a reboot reboots itself inside its maintenance window, holding a lease from the controller.'),
    maxConcurrent: z.number().int().min(1).max(10000).optional().describe("Hosts rebooting at once, fleet-wide (the controller's lease semaphore). Default 1."),
    timeout: durationAtMost("1d").optional().describe('How long a host may hold its reboot lease: it must be back on the expected generation by then, or it blocks further reboots until it recovers or an operator releases it. Default "15m", at most "1d".'),
    overrides: z.array(RebootOverride).optional().describe("Per-tag or per-host policies."),
  })
  .describe("Reboot coordination for NixOS hosts that report needsReboot (docs/operations.md).");
export type RebootPolicy = z.infer<typeof RebootPolicy>;
