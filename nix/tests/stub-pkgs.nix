# Stand-in `pkgs` for ./eval-module.nix: derivations are plain attrsets with
# a fake out path; writers and formats keep their inputs so tests can read
# the rendered config and the wrapper script back.
{ lib }:
let
  fakeHash = "0000000000000000000000000000000f";
  drv = name: extra: { type = "derivation"; inherit name; outPath = "/nix/store/${fakeHash}-${name}"; } // extra;
  self = {
    inherit lib;
    stdenv.hostPlatform.system = "x86_64-linux";
    nodejs_20 = drv "nodejs-20" { meta.mainProgram = "node"; };
    makeWrapper = drv "make-wrapper" { };
    # passthru attributes sit on the derivation, as with mkDerivation.
    buildNpmPackage = args: drv "${args.pname}-${args.version}" ({ inherit args; inherit (args) pname version; } // (args.passthru or { }));
    importNpmLock = {
      npmConfigHook = drv "npm-config-hook" { };
      __functor = _: args: drv "npm-deps" { inherit (args) packageLock; };
    };
    coreutils = drv "coreutils" { };
    diffutils = drv "diffutils" { };
    gnugrep = drv "gnugrep" { };
    git = drv "git" { };
    openssh = drv "openssh" { };
    util-linux = drv "util-linux" { };
    nix = drv "nix" { };
    nixos-rebuild = drv "nixos-rebuild" { };
    flotilla = drv "flotilla" { };
    formats.json = { }: {
      type = lib.types.attrs;
      generate = name: value: drv name { inherit value; text = builtins.toJSON value; };
    };
    writeShellApplication = args: drv args.name { inherit (args) text; runtimeInputs = args.runtimeInputs or [ ]; };
    callPackage = path: overrides:
      let f = import path;
      in f (builtins.intersectAttrs (builtins.functionArgs f) self // overrides);
  };
in
self
