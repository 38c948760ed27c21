/**
 * Release manifests ("build once"): a builder evaluates and builds every
 * host's system at one fleet revision, pushes the closures to a Nix binary
 * cache, and publishes what it built as a signed manifest in the fleet repo
 * itself (git ref `refs/flotilla/releases/<rev>`, a commit whose tree holds
 * `release.json`). Agents in `substitute` mode read it through the same git
 * mirror they poll, check the builder's ed25519 signature against the
 * fleet's `delivery.builders`, and fetch the out path from the caches.
 *
 * The signature covers RELEASE_SIGNATURE_DOMAIN + payload (UTF-8), a domain
 * of its own, so neither a host's report nor a release can stand in for the
 * other.
 */
import { z } from "zod";
import { CommitSha, HostName, SshEd25519PublicKey, Timestamp } from "./common.js";

export { RELEASE_FILE, RELEASE_REF_PREFIX, RELEASE_SIGNATURE_DOMAIN } from "./release-constants.js";

export const StorePath = z
  .string()
  .regex(/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/, { message: "expected a store path such as /nix/store/<32 chars>-<name>" })
  .describe("A Nix store path (no sub-path).");

export const ReleaseHost = z
  .strictObject({
    kind: z.enum(["nixos", "legacy"]).describe("nixos: the system toplevel; legacy: the closure of the host's flake app."),
    outPath: StorePath.describe("The store path to realise: the toplevel, or the store path holding the legacy app's program."),
    generation: z.string().min(1).describe("What the agent records as the generation: the out path (NixOS) or the app's program path (legacy)."),
    attribute: z.string().min(1).describe("The flake attribute that was built."),
    closureSize: z.number().int().min(0).describe("Sum of the narSize of every path in the closure, in bytes."),
  })
  .describe("What one host runs at this revision.");
export type ReleaseHost = z.infer<typeof ReleaseHost>;

export const ReleaseManifest = z
  .strictObject({
    type: z.literal("flotilla-release"),
    version: z.literal(1),
    rev: CommitSha.describe("The fleet revision that was built."),
    builder: z.strictObject({
      name: z.string().min(1).max(200).describe("Who built it (a CI job, a machine)."),
      key: SshEd25519PublicKey.describe("The key that signed this manifest; must be listed in delivery.builders."),
    }),
    builtAt: Timestamp,
    caches: z.array(z.string().min(1)).describe("Binary caches the closures were copied to (informative; agents use the fleet's delivery.caches)."),
    hosts: z.record(HostName, ReleaseHost).describe("Every host built at this revision."),
  })
  .describe("What a builder built for one fleet revision.");
export type ReleaseManifest = z.infer<typeof ReleaseManifest>;

export const SignedRelease = z
  .strictObject({
    v: z.literal(1),
    alg: z.literal("ssh-ed25519"),
    key: SshEd25519PublicKey.describe("The signer's public key (must be one of delivery.builders)."),
    payload: z.string().min(2).max(4_000_000).describe("The signed JSON text of a ReleaseManifest."),
    sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, { message: "expected a base64 ed25519 signature (64 bytes)" }),
  })
  .describe("A release manifest signed by a builder (the content of release.json).");
export type SignedRelease = z.infer<typeof SignedRelease>;
