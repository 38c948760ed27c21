# flotilla-agent-start: the agent unit's ExecStart (nix/agent-start-wrapper.sh).
# `nix` must be the host's nix (the module passes config.nix.package): the
# wrapper runs `nix-env --set` on the agent profile when it rolls back.
{ writeShellApplication, coreutils, nix }:
writeShellApplication {
  name = "flotilla-agent-start";
  runtimeInputs = [ coreutils nix ];
  text = builtins.readFile ./agent-start-wrapper.sh;
}
