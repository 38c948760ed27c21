# services.flotilla.agent: the pull agent on a NixOS host.
#
# Renders `settings` (schemas/src/agent-config.ts) to /etc/flotilla/agent.yaml
# and runs flotilla-agent as a root system service that survives the
# deployments it performs: `restartIfChanged = false` and
# `stopIfChanged = false` (as comin does), so switch-to-configuration never
# stops the agent in the middle of its own switch. The agent picks up a new
# unit or binary by exiting with 75 (EX_TEMPFAIL), which systemd treats as a
# restart request. See docs/packaging.md.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;

  cfg = config.services.flotilla.agent;
  settingsFormat = pkgs.formats.json { };

  # Unset optional settings are null here and must not reach the file: the
  # agent's schema is strict and null is not a valid value for any field.
  dropNulls = value:
    if builtins.isAttrs value then
      lib.mapAttrs (_: dropNulls) (lib.filterAttrs (_: v: v != null) value)
    else if builtins.isList value then map dropNulls value
    else value;
  rendered = dropNulls cfg.settings;
  configFile = settingsFormat.generate "flotilla-agent.yaml" rendered;
  configPath = "/etc/flotilla/agent.yaml";

  stateDirName = lib.removePrefix "/var/lib/" cfg.settings.stateDir;
  runtimeDirName = builtins.head (lib.splitString "/" (lib.removePrefix "/run/" cfg.settings.secretsRoot));

  startWrapper = pkgs.callPackage ../agent-start-wrapper.nix { nix = config.nix.package; };
  execStart =
    if cfg.selfUpdate.enable
    then "${startWrapper}/bin/flotilla-agent-start run --config ${configPath}"
    else "${cfg.package}/bin/flotilla-agent run --config ${configPath}";

  nullOr = type: description: mkOption { type = types.nullOr type; default = null; inherit description; };
in
{
  options.services.flotilla.agent = {
    enable = mkEnableOption "the Flotilla pull agent";

    package = mkOption {
      type = types.package;
      default = pkgs.flotilla or (throw "services.flotilla.agent.package: import the module from the flotilla flake (nixosModules.agent) or set the package");
      defaultText = literalExpression "flotilla.packages.\${system}.flotilla";
      description = "The flotilla package. With self-update enabled it is the fallback used until the agent profile holds a working agent.";
    };

    settings = mkOption {
      description = ''
        The agent's config file (schemas/src/agent-config.ts), rendered as JSON
        (which is YAML) to /etc/flotilla/agent.yaml. Options left null are
        omitted, so the agent's own defaults apply. Fields not declared here
        (commands, timeouts, queue, legacyProfileDir, ...) pass through as
        given; the agent rejects unknown ones.
      '';
      default = { };
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          host = mkOption {
            type = types.strMatching "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?";
            default = config.networking.hostName;
            defaultText = literalExpression "config.networking.hostName";
            description = "This machine's name in fleet.yaml.";
          };
          remotes = mkOption {
            type = types.listOf types.str;
            description = "Fleet repo remotes (file://, http(s)://, ssh:// or scp-style), tried in order.";
            example = [ "https://github.com/acme/fleet.git" ];
          };
          branch = nullOr types.str ''Fleet branch (agent default "main").'';
          stateDir = mkOption {
            type = types.strMatching "/var/lib/[^/].*";
            default = "/var/lib/flotilla";
            description = "Agent state; must be under /var/lib so that systemd's StateDirectory= manages it.";
          };
          hostKeyPath = mkOption {
            type = types.str;
            default = "/etc/ssh/ssh_host_ed25519_key";
            description = "ed25519 key the agent signs reports with and decrypts secrets with.";
          };
          secretsRoot = mkOption {
            type = types.strMatching "/run/[^/].*";
            default = "/run/flotilla/secrets.d";
            description = "Where decrypted secrets are written; under /run so they never reach disk. Its first component below /run is the unit's RuntimeDirectory, preserved across agent restarts.";
          };
          controller = nullOr types.str "Controller URL; overrides policy.controller from the fleet file.";
          activation = nullOr (types.enum [ "nixos-rebuild" "direct" ]) ''Agent default "nixos-rebuild".'';
          profile = nullOr types.str ''NixOS system profile (agent default "/nix/var/nix/profiles/system").'';
          pollInterval = nullOr types.str ''Overrides agent.pollInterval from the fleet file, e.g. "60s".'';
          jitter = nullOr types.str ''Random delay added to each poll, e.g. "10s".'';
          heartbeatInterval = nullOr types.str ''Agent default "60s".'';
          logLevel = nullOr (types.enum [ "debug" "info" "warn" "error" ]) "Agent log level.";
        };
      };
    };

    selfUpdate = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Start the agent through flotilla-agent-start, which runs
          <profile>/bin/flotilla-agent when the agent profile has one (the
          self-update sets it) and the module's package otherwise, and sets the
          profile back to the last confirmed generation when a new one
          crash-loops. When false, the unit runs the module's package directly.
        '';
      };
      profile = mkOption {
        type = types.str;
        default = "/nix/var/nix/profiles/flotilla-agent";
        description = "The agent profile the self-update switches (passed as FLOTILLA_AGENT_PROFILE).";
      };
      maxStarts = mkOption {
        type = types.ints.positive;
        default = 3;
        description = "Starts of a new, unconfirmed profile generation before it is rolled back.";
      };
      stableSeconds = mkOption {
        type = types.ints.positive;
        default = 120;
        description = "A run that lasted this long confirms its profile generation.";
      };
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/flotilla-agent.env";
      description = "systemd EnvironmentFile, e.g. GIT_SSH_COMMAND or a token for a private fleet remote. Keep it out of the Nix store.";
    };

    extraPath = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = "More packages on the agent's PATH (and so on the PATH of the deployments it runs).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.settings.remotes != [ ];
        message = "services.flotilla.agent.settings.remotes must list at least one fleet remote.";
      }
      {
        assertion = stateDirName != "" && !(lib.hasInfix "/" stateDirName);
        message = "services.flotilla.agent.settings.stateDir must be a directory directly under /var/lib (got ${cfg.settings.stateDir}).";
      }
    ];

    environment.etc."flotilla/agent.yaml".source = configFile;
    # For operators (`flotilla-agent status --config /etc/flotilla/agent.yaml`).
    environment.systemPackages = [ cfg.package ];

    # After a reboot the secrets root (a tmpfs) is empty: this oneshot
    # re-installs the current revision's secrets from the agent's state and
    # fleet cache (no network). Units that need them order themselves
    # After=flotilla-secrets.service, never after the agent: a unit ordered
    # after flotilla-agent.service cannot be (re)started while the agent is
    # stopping, so a switch restarting it during `systemctl stop
    # flotilla-agent` would wait for the stop, and the stop for the switch.
    systemd.services.flotilla-secrets = {
      description = "Flotilla: re-install the current revision's secrets after boot";
      wantedBy = [ "multi-user.target" ];
      before = [ "flotilla-agent.service" ];
      # Re-running it is harmless (it does nothing while secrets are installed); a switch need not.
      restartIfChanged = false;
      path = [ pkgs.git ];
      environment = {
        HOME = "/root";
        FLOTILLA_STATE_DIR = cfg.settings.stateDir;
      };
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        # "-": a host whose secrets cannot be restored still boots; the agent's next deploy installs them.
        ExecStart = "-${cfg.package}/bin/flotilla-agent restore-secrets --config ${configPath}";
        User = "root";
        UMask = "0077";
        RuntimeDirectory = runtimeDirName;
        RuntimeDirectoryMode = "0700";
        RuntimeDirectoryPreserve = "yes";
      } // lib.optionalAttrs (cfg.environmentFile != null) {
        EnvironmentFile = cfg.environmentFile;
      };
    };

    systemd.services.flotilla-agent = {
      description = "Flotilla pull agent";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" "flotilla-secrets.service" ];
      after = [ "network-online.target" "nix-daemon.socket" "flotilla-secrets.service" ];

      # The agent runs switch-to-configuration itself: a switch that changes
      # this unit must neither stop nor restart it, or the switch would kill
      # its own caller. The agent notices a changed unit or a new package and
      # exits 75 to be restarted into it: it fingerprints FLOTILLA_AGENT_UNIT_FILE,
      # its config and its package path at start and compares between cycles.
      restartIfChanged = false;
      stopIfChanged = false;
      # Not a restart (restartIfChanged is false) but part of the unit file:
      # a new config changes the unit, which the agent detects (as comin
      # does with its unit hash) and exits 75 to be restarted with it.
      restartTriggers = [ configFile ];
      # Never give up restarting: a stopped agent cannot repair the machine.
      startLimitIntervalSec = 0;

      path = [
        config.nix.package
        config.system.build.nixos-rebuild
        pkgs.git
        pkgs.openssh
        pkgs.util-linux # runuser, for legacy deploys as another user
      ] ++ cfg.extraPath;

      environment = {
        HOME = "/root";
        # Builds go to nix-daemon (its sandbox, its resource limits), not
        # into this unit's cgroup, which root's nix would do by default.
        NIX_REMOTE = "daemon";
        FLOTILLA_AGENT_PROFILE = cfg.selfUpdate.profile;
        FLOTILLA_AGENT_FALLBACK = "${cfg.package}";
        FLOTILLA_STATE_DIR = cfg.settings.stateDir;
        # Restart-on-change (node-agent/src/self-update/restart-on-change.ts):
        # the agent fingerprints this unit file, its config and its package at
        # start and exits 75 between cycles when one of them changed.
        FLOTILLA_AGENT_UNIT_FILE = "/etc/systemd/system/flotilla-agent.service";
        FLOTILLA_AGENT_MAX_STARTS = toString cfg.selfUpdate.maxStarts;
        FLOTILLA_AGENT_STABLE_SECS = toString cfg.selfUpdate.stableSeconds;
      };

      serviceConfig = {
        Type = "exec";
        ExecStart = execStart;
        User = "root";
        Restart = "always";
        RestartSec = "5s";
        # 75 (EX_TEMPFAIL): a self-update switched the agent profile, or a
        # deploy changed this unit, its config or package (restart-on-change);
        # restart into the new binary. Listing it in
        # SuccessExitStatus keeps it out of the failure count and the logs'
        # "failed" state.
        RestartForceExitStatus = "75";
        SuccessExitStatus = "75";
        # SIGTERM to the agent only: it starts no new step, lets a switch or
        # rollback in progress finish and saves its outcome, then exits (within
        # 4 min, STOP_BOUND_MS in node-agent/src/main.ts; keep this above it).
        # Everything left is killed after the timeout.
        KillMode = "mixed";
        TimeoutStopSec = "5min";

        StateDirectory = stateDirName;
        StateDirectoryMode = "0700";
        RuntimeDirectory = runtimeDirName;
        RuntimeDirectoryMode = "0700";
        # Decrypted secrets live in the runtime directory; services that use
        # them must not lose them when the agent restarts.
        RuntimeDirectoryPreserve = "yes";

        # Hardening. The agent is root and runs nixos-rebuild and the
        # activation scripts as its children, which inherit every sandboxing
        # option and must behave exactly as in an admin's shell. Hence none
        # of these (see docs/packaging.md, "Why the agent is not sandboxed"):
        #   ProtectSystem: activation writes /etc, /boot, /nix/var, /bin/sh, /usr/bin/env
        #   ProtectHome: activation creates and chowns home directories
        #   PrivateTmp, PrivateDevices, PrivateMounts, ProtectKernel*, ProtectControlGroups:
        #     activation mounts, writes /proc/sys, installs the boot loader (/dev, efivars)
        #     and must see the real /tmp, /dev and mount table
        #   NoNewPrivileges: setuid helpers run by activation scripts would silently lose privilege
        #   CapabilityBoundingSet, SystemCallFilter, RestrictNamespaces: arbitrary programs run
        #   UMask=0077: activation creates files without explicit modes; the agent
        #     sets modes itself on what it writes (state, secrets)
        # What remains: private state and runtime dirs (0700) and builds in nix-daemon.
      } // lib.optionalAttrs (cfg.environmentFile != null) {
        EnvironmentFile = cfg.environmentFile;
      };
    };
  };
}
