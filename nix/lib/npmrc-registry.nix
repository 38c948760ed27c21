# The npm registry Flotilla's package is fetched from: the `registry=` line
# of the repository's .npmrc, the file npm itself reads, so one line names
# the registry for `npm ci`, for `nix build .#flotilla`, for the NixOS
# modules' default package (the flake's package) and for the agent's
# self-update (which builds the flake of `agent.selfUpdate.source`, that
# revision's .npmrc included). docs/packaging.md, "The npm registry".
#
# npm's ini rules as far as they matter here: `;` and `#` start comments,
# `@scope:registry=` lines name a scope's registry (ignored: Flotilla's
# dependencies are unscoped or on the default registry), the last
# `registry=` wins, the value may be quoted. Returns null when there is no
# file or no such line; `${VAR}` references (npm expands them from the
# environment) are refused, because a Nix evaluation cannot see them.
#
# builtins only (no nixpkgs), so the test suite evaluates it.
npmrc:
let
  text = if builtins.pathExists npmrc then builtins.readFile npmrc else "";
  lines = builtins.filter builtins.isString (builtins.split "\n" text);
  valueOf = line:
    builtins.match ''[[:space:]]*registry[[:space:]]*=[[:space:]]*"?([^"[:space:]]*)"?[[:space:]]*''
      (builtins.replaceStrings [ "\r" ] [ "" ] line);
  values = builtins.concatMap (line: let m = valueOf line; in if m == null then [ ] else m) lines;
  value = builtins.elemAt values (builtins.length values - 1);
in
if values == [ ] || value == "" then null
else if builtins.match ".*[$][{].*" value != null then
  throw "flotilla: ${toString npmrc}: registry=${value} refers to an environment variable, which a Nix evaluation cannot read; write the registry's URL there (docs/packaging.md, \"The npm registry\")"
else value
