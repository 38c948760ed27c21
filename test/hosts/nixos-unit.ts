// flotilla-agent.service and flotilla-secrets.service (restore-secrets at
// boot) as nix/modules/agent.nix declares them, evaluated with
// the real nix CLI (nix/tests/eval-module.nix with the stand-in pkgs, as
// test/integration/nix-packaging.test.ts does) and rendered to a unit file
// the way NixOS renders systemd.services.<name> (Environment= per variable,
// X-RestartIfChanged/X-StopIfChanged/X-Restart-Triggers in [Unit]). Store
// paths of the stand-in pkgs are the one thing replaced: the start wrapper
// and the package by their copies in the test host, PATH by the host's.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "./harness.js";

const execFileP = promisify(execFile);

interface Svc {
  description: string;
  wantedBy?: string[];
  wants?: string[];
  after?: string[];
  before?: string[];
  restartIfChanged?: boolean;
  stopIfChanged?: boolean;
  startLimitIntervalSec?: number;
  restartTriggers?: string[];
  environment?: Record<string, string>;
  serviceConfig: Record<string, string | number | boolean>;
}

export interface RenderedAgent {
  /** flotilla-agent.service */
  unit: string;
  /** flotilla-secrets.service (restore-secrets at boot) */
  secretsUnit: string;
  config: string;
}

/** Where the test host keeps the start wrapper (the module's writeShellApplication). */
export const HOST_START_WRAPPER = "/usr/local/lib/flotilla-agent-start/bin/flotilla-agent-start";

/**
 * `config` is a Nix expression for services.flotilla.agent's options (as in a
 * configuration.nix). `pkg` is the flotilla package's store path in the host.
 */
export async function renderAgentUnit(agentOptions: string, pkg: string): Promise<RenderedAgent> {
  const expr = `let e = import ./nix/tests/eval-module.nix { module = ./nix/modules/agent.nix; config = { services.flotilla.agent = ${agentOptions}; }; };
    in { svc = e.result.systemd.services.flotilla-agent; secrets = e.result.systemd.services.flotilla-secrets; config = e.result.environment.etc."flotilla/agent.yaml".source.text; }`;
  const { stdout } = await execFileP("nix-instantiate", ["--eval", "--strict", "--json", "-E", expr], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, NIX_CONFIG: "experimental-features = nix-command flakes\nsubstituters =" },
    maxBuffer: 16 * 1024 * 1024,
  });
  const { svc, secrets, config } = JSON.parse(stdout) as { svc: Svc; secrets: Svc; config: string };
  // The stand-in pkgs give every file the same fake hash; a real store path changes with the content.
  const configPath = `/nix/store/${createHash("sha256").update(config).digest("hex").slice(0, 32)}-flotilla-agent.yaml`;
  return { unit: renderUnit(svc, pkg, configPath), secretsUnit: renderUnit(secrets, pkg, configPath), config };
}

/** A unit file as NixOS renders systemd.services.<name>: [Unit] (with X-* for switch-to-configuration), [Service], [Install]. */
function renderUnit(svc: Svc, pkg: string, configPath: string): string {
  const hostPath = (v: string) => v.replace(/\/nix\/store\/[0-9a-z]{32}-flotilla-agent-start\/bin\/flotilla-agent-start/g, HOST_START_WRAPPER).replace(/\/nix\/store\/[0-9a-z]{32}-flotilla\b/g, pkg);
  const env: Record<string, string> = { ...svc.environment, PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" };
  const value = (v: string | number | boolean) => (typeof v === "boolean" ? (v ? "true" : "false") : String(v));
  const list = (key: string, v: string[] | undefined) => (v?.length ? [`${key}=${v.join(" ")}`] : []);
  const lines = [
    "[Unit]",
    ...list("After", svc.after),
    ...list("Before", svc.before),
    `Description=${svc.description}`,
    ...(svc.startLimitIntervalSec !== undefined ? [`StartLimitIntervalSec=${svc.startLimitIntervalSec}`] : []),
    ...list("Wants", svc.wants),
    ...list("X-Restart-Triggers", svc.restartTriggers?.map((t) => t.replace(/\/nix\/store\/[0-9a-z]{32}-flotilla-agent\.yaml/, configPath))),
    `X-RestartIfChanged=${svc.restartIfChanged ?? true}`,
    ...(svc.stopIfChanged !== undefined ? [`X-StopIfChanged=${svc.stopIfChanged}`] : []),
    "",
    "[Service]",
    ...Object.keys(env)
      .sort()
      .map((k) => `Environment="${k}=${hostPath(env[k]!)}"`),
    ...Object.keys(svc.serviceConfig)
      .sort()
      .map((k) => `${k}=${hostPath(value(svc.serviceConfig[k]!))}`),
    "",
    "[Install]",
    ...list("WantedBy", svc.wantedBy),
    "",
  ];
  return lines.join("\n");
}
