/**
 * Builds normalised fleets for the controller's pure tests (no fleet file,
 * no keys needed). Integration tests use real fleet files instead.
 */
import type { Fleet, HostSpec, WaveSpec } from "../../../common/src/fleet/model.js";

export interface WaveDraft {
  name: string;
  members: string[];
  soakMs?: number;
  maxUnavailable?: number;
  acceptPendingReboot?: boolean;
  approval?: "auto" | "manual";
}

export function buildFleet(waves: WaveDraft[], opts: { pins?: Record<string, string>; unreachableAfterMs?: number; hostKeys?: Record<string, string> } = {}): Fleet {
  const specs: WaveSpec[] = waves.map((w, index) => ({
    name: w.name,
    index,
    members: w.members,
    soakMs: w.soakMs ?? 0,
    maxUnavailable: w.maxUnavailable ?? 0,
    acceptPendingReboot: w.acceptPendingReboot ?? false,
    approval: w.approval ?? "auto",
    implicit: false,
  }));
  const hosts: HostSpec[] = specs.flatMap((w) =>
    w.members.map((name) => ({
      name,
      kind: "nixos" as const,
      hostKey: opts.hostKeys?.[name] ?? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPLACEHOLDERPLACEHOLDERPLACEHOLDER0000000",
      tags: [],
      ...(opts.pins?.[name] ? { pin: opts.pins[name] } : {}),
      checks: [],
      hooks: {},
      wave: w.name,
      waveIndex: w.index,
      attribute: `nixosConfigurations.${name}`,
      operation: "switch" as const,
    })),
  );
  return {
    version: 1,
    policy: { branch: "main", allowRewrites: false, requireSignedCommits: false, allowedSigners: [], unreachableAfterMs: opts.unreachableAfterMs ?? 300_000 },
    agent: { pollIntervalMs: 60_000, jitterMs: 10_000, keepGenerations: 5 },
    hosts,
    waves: specs,
    secrets: [],
  };
}
