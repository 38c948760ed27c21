/**
 * The agent's Nix calls use flakes (`nix build <ref>#…`, `nix run`, `nix
 * eval`), which Nix 2.x ships switched off: a stock Debian nix-bin (2.8)
 * answers "experimental Nix feature 'nix-command' is disabled". Rather than
 * requiring every host's nix.conf to enable them, the agent adds
 * `extra-experimental-features = nix-command flakes` to NIX_CONFIG for every
 * command it runs (nix, nix-env, nixos-rebuild, the legacy app and what that
 * app runs). `extra-` adds to what nix.conf enables, never removes. Pure.
 */
export const FLAKE_FEATURES_LINE = "extra-experimental-features = nix-command flakes";

export function withFlakeFeatures(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const current = env.NIX_CONFIG ?? "";
  if (current.split("\n").some((l) => l.trim() === FLAKE_FEATURES_LINE)) return env;
  return { ...env, NIX_CONFIG: current ? `${current}\n${FLAKE_FEATURES_LINE}` : FLAKE_FEATURES_LINE };
}
