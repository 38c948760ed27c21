/**
 * `flotilla-agent self-test [--config FILE]`: run by the old agent against a
 * freshly built one before the profile is switched to it. Checks, with the
 * new binary, that the config loads (main() did that), the state file is
 * readable, a fleet remote answers `git ls-remote`, the controller
 * answers when one is configured (config, else `policy.controller` of the
 * fleet file at the trusted head, read from the cache); and it warns (a
 * check with `warning: true`, still ok) when the secrets root is not on
 * tmpfs or is writable by group or others. Prints one JSON line
 * `{"ok":…,"version":…,"host":…,"checks":[{name,ok,detail}]}`; exit 0 when
 * every check passed, 1 otherwise. Read-only: takes no lock, writes nothing.
 */
import { join } from "node:path";
import type { Logger } from "../../../common/src/log.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { loadFleetAtRev } from "../../../common/src/fleet/load.js";
import { httpCall } from "../adapters/http-client.js";
import { secretsRootWarnings } from "../adapters/secrets-root.js";
import { FileStateStore } from "../adapters/state-file.js";
import type { ResolvedConfig } from "../config.js";

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Passed, but something needs a human's attention (the secrets root). */
  warning?: boolean;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 500);

export async function selfTest(config: ResolvedConfig, o: { version: string; log: Logger; out: (s: string) => void }): Promise<number> {
  const checks: Check[] = [{ name: "config", ok: true, detail: `host ${config.host}` }];

  let trustedHead: string | null = null;
  try {
    const state = await new FileStateStore(config.stateDir).load();
    trustedHead = state?.trustedHead ?? null;
    checks.push({ name: "state", ok: true, detail: state ? `phase ${state.cycle.phase}` : "no state yet" });
  } catch (e) {
    checks.push({ name: "state", ok: false, detail: msg(e) });
  }

  const mirror = new GitMirror({ dir: join(config.stateDir, "cache.git"), remotes: config.remotes, branch: config.branch, log: o.log, git: config.commands.git, timeoutMs: Math.min(config.timeouts.gitMs, 60_000) });
  try {
    const head = await mirror.remoteHead();
    checks.push({ name: "remote", ok: true, detail: `${head.sha.slice(0, 12)} on ${config.branch}` });
  } catch (e) {
    checks.push({ name: "remote", ok: false, detail: msg(e) });
  }

  let controller = config.controller;
  if (!controller && trustedHead) {
    const f = await loadFleetAtRev(mirror, trustedHead).catch(() => null);
    controller = f?.fleet?.policy.controller?.replace(/\/+$/, "") ?? null;
  }
  if (controller) {
    try {
      // Any answer below 500 means the controller is up and reachable (reports are signed POSTs; this only probes).
      const res = await httpCall(`${controller}/healthz`, { timeoutMs: Math.min(config.timeouts.connectivityMs, 15_000), discardBody: true });
      checks.push({ name: "controller", ok: res.status < 500, detail: `${controller} answered ${res.status}` });
    } catch (e) {
      checks.push({ name: "controller", ok: false, detail: `${controller}: ${msg(e)}` });
    }
  }

  // Not a failure (the new agent runs fine), but loud: decrypted secrets would be at risk.
  const unsafe = secretsRootWarnings(config.secretsRoot);
  for (const w of unsafe) o.log.warn(`SECRETS ROOT UNSAFE: ${w}`);
  checks.push(unsafe.length ? { name: "secretsRoot", ok: true, warning: true, detail: unsafe.join("; ") } : { name: "secretsRoot", ok: true, detail: `${config.secretsRoot} is on tmpfs and not writable by group or others` });

  const ok = checks.every((c) => c.ok);
  o.out(JSON.stringify({ ok, version: o.version, host: config.host, checks }) + "\n");
  return ok ? 0 : 1;
}
