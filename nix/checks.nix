# checks.<system>: the package build, and both modules evaluated in a minimal
# NixOS system with nixos/lib/eval-config.nix. The module checks use a
# stand-in flotilla package so they test the modules, not the npm build; they
# instantiate (not build) the whole system, which enforces the assertions,
# then validate the rendered config files against the generated JSON Schemas
# and inspect the generated unit files.
{ pkgs, nixpkgs, flotilla, modules }:
let
  inherit (pkgs) lib;
  system = pkgs.stdenv.hostPlatform.system;

  standIn = pkgs.runCommand "flotilla-stand-in" { } ''
    mkdir -p $out/bin
    for bin in flotilla flotilla-agent; do
      printf '#!/bin/sh\necho "%s stand-in: $*"\n' "$bin" >$out/bin/$bin
      chmod +x $out/bin/$bin
    done
  '';

  evalSystem = extra: import "${nixpkgs}/nixos/lib/eval-config.nix" {
    inherit system;
    modules = [
      {
        boot.loader.grub.enable = false;
        fileSystems."/" = { device = "none"; fsType = "tmpfs"; };
        networking.hostName = "web-1";
        documentation.enable = false;
        system.stateVersion = "25.05";
      }
      extra
    ];
  };

  agent = evalSystem {
    imports = [ modules.agent ];
    services.flotilla.agent = {
      enable = true;
      package = standIn;
      settings = {
        remotes = [ "https://github.com/acme/fleet.git" "git@github.com:acme/fleet.git" ];
        controller = "https://flotilla.acme.test";
        pollInterval = "60s";
        timeouts.build = "45m";
      };
    };
  };

  controller = evalSystem {
    imports = [ modules.controller ];
    services.flotilla.controller = {
      enable = true;
      package = standIn;
      openFirewall = true;
      database.createLocally = true;
      environmentFile = "/run/secrets/flotilla-controller.env";
      settings = {
        listen = "0.0.0.0:8480";
        fleet.remotes = [ "https://github.com/acme/fleet.git" ];
        github = { repo = "acme/fleet"; token.env = "GITHUB_TOKEN"; webhookSecret.env = "FLOTILLA_WEBHOOK_SECRET"; };
      };
    };
  };

  python = pkgs.python3.withPackages (ps: [ ps.jsonschema ]);
  validate = schema: file: ''
    python3 - ${schema} ${file} <<'PY'
    import json, sys, jsonschema
    schema = json.load(open(sys.argv[1]))
    doc = json.load(open(sys.argv[2]))
    jsonschema.Draft202012Validator(schema).validate(doc)
    print("valid:", sys.argv[2])
    PY
  '';
in
{
  package = flotilla;
  install-legacy-agent = pkgs.callPackage ./install-legacy-agent.nix { inherit flotilla; };
  agent-start-wrapper = pkgs.callPackage ./agent-start-wrapper.nix { };

  agent-module = pkgs.runCommand "flotilla-agent-module-check" {
    nativeBuildInputs = [ python ];
    toplevelDrv = builtins.unsafeDiscardStringContext agent.config.system.build.toplevel.drvPath;
    unitDir = agent.config.systemd.units."flotilla-agent.service".unit;
    configFile = agent.config.environment.etc."flotilla/agent.yaml".source;
  } ''
    ${validate ../schemas/generated/agent-config.schema.json "$configFile"}
    unit=$unitDir/flotilla-agent.service
    cat $unit
    grep -qx 'X-RestartIfChanged=false' $unit
    grep -qx 'X-StopIfChanged=false' $unit
    grep -qx 'Restart=always' $unit
    grep -qx 'RestartForceExitStatus=75' $unit
    grep -qx 'RuntimeDirectoryPreserve=yes' $unit
    grep -q '^ExecStart=.*flotilla-agent-start run --config /etc/flotilla/agent.yaml$' $unit
    touch $out
  '';

  controller-module = pkgs.runCommand "flotilla-controller-module-check" {
    nativeBuildInputs = [ python ];
    toplevelDrv = builtins.unsafeDiscardStringContext controller.config.system.build.toplevel.drvPath;
    unitDir = controller.config.systemd.units."flotilla-controller.service".unit;
    configFile = controller.config.environment.etc."flotilla/controller.json".source;
    postgres = lib.boolToString controller.config.services.postgresql.enable;
    firewall = toString controller.config.networking.firewall.allowedTCPPorts;
  } ''
    ${validate ../schemas/generated/controller-config.schema.json "$configFile"}
    python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["database"] == "postgres:///flotilla?host=/run/postgresql"' "$configFile"
    [ "$postgres" = true ]
    [[ " $firewall " == *" 8480 "* ]]
    grep -qx 'User=flotilla' $unitDir/flotilla-controller.service
    touch $out
  '';
}
