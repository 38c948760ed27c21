# services.flotilla.controller: the Flotilla controller (`flotilla serve`).
#
# Renders `settings` (schemas/src/controller-config.ts) to
# /etc/flotilla/controller.json, runs the controller as the dedicated system
# user `flotilla` with a state directory and the usual systemd sandbox, and
# optionally creates a local PostgreSQL database reached over the Unix socket
# with peer authentication.
# See docs/packaging.md.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression;

  cfg = config.services.flotilla.controller;
  settingsFormat = pkgs.formats.json { };

  dropNulls = value:
    if builtins.isAttrs value then
      lib.mapAttrs (_: dropNulls) (lib.filterAttrs (_: v: v != null) value)
    else if builtins.isList value then map dropNulls value
    else value;
  rendered = dropNulls (cfg.settings // lib.optionalAttrs cfg.database.createLocally {
    database = "postgres:///${cfg.database.name}?host=/run/postgresql";
  });
  configFile = settingsFormat.generate "flotilla-controller.json" rendered;

  listenPort = lib.toInt (lib.last (lib.splitString ":" cfg.settings.listen));

  # One descriptor per connection up to limits.maxConnections (default 4096)
  # plus the 32-connection /healthz headroom, and room for SQLite, git pipes,
  # the PostgreSQL pool and Node itself (docs/controller.md, "Sizing").
  maxConnections = (cfg.settings.limits or { }).maxConnections or 4096;
  limitNofile = maxConnections + 32 + 1024;
  stateDirName = lib.removePrefix "/var/lib/" cfg.settings.dataDir;

  nullOr = type: description: mkOption { type = types.nullOr type; default = null; inherit description; };
in
{
  options.services.flotilla.controller = {
    enable = mkEnableOption "the Flotilla controller";

    package = mkOption {
      type = types.package;
      default = pkgs.flotilla or (throw "services.flotilla.controller.package: import the module from the flotilla flake (nixosModules.controller) or set the package");
      defaultText = literalExpression "flotilla.packages.\${system}.flotilla";
      description = "The flotilla package.";
    };

    user = mkOption {
      type = types.str;
      default = "flotilla";
      description = "System user (and group) the controller runs as; with database.createLocally it is also the PostgreSQL role (peer authentication).";
    };

    settings = mkOption {
      description = ''
        The controller's config file (schemas/src/controller-config.ts), rendered
        as JSON. Options left null are omitted, so the controller's defaults
        apply. Undeclared fields (github, auth, limits) pass through as given.
        Secrets: use SecretRefs such as `{ env = "GITHUB_TOKEN"; }` or
        `{ file = "/run/secrets/..."; }` with `environmentFile`, never inline values,
        which would land in the world-readable Nix store.
      '';
      default = { };
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          listen = mkOption {
            type = types.strMatching "[^[:space:]]+:[0-9]+";
            default = "127.0.0.1:8480";
            description = ''"host:port" to listen on.'';
          };
          publicUrl = nullOr types.str "URL shown in GitHub statuses and the dashboard.";
          dataDir = mkOption {
            type = types.strMatching "/var/lib/[^/]+";
            default = "/var/lib/flotilla-controller";
            description = "Controller state (git mirror, SQLite database); managed by systemd's StateDirectory=.";
          };
          database = nullOr (types.strMatching "(sqlite:.*|postgres(ql)?://.+)") ''
            "sqlite:<path>" or "postgres://..." (controller default: sqlite in dataDir).
            Set by database.createLocally.'';
          fleet = {
            remotes = mkOption {
              type = types.listOf types.str;
              description = "Fleet repo remotes.";
            };
            branch = nullOr types.str ''Fleet branch (default "main").'';
            pollInterval = nullOr types.str ''Default "30s".'';
          };
          logLevel = nullOr (types.enum [ "debug" "info" "warn" "error" ]) "Log level.";
        };
      };
    };

    database = {
      createLocally = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Enable services.postgresql with a database and role named
          `database.name` owned by the controller's user, and point
          settings.database at it over the Unix socket
          (postgres:///<name>?host=/run/postgresql, peer authentication, no password).
        '';
      };
      name = mkOption {
        type = types.str;
        default = cfg.user;
        defaultText = literalExpression "config.services.flotilla.controller.user";
        description = "Database name; must equal the user for ensureDBOwnership.";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP port of settings.listen (agents and GitHub webhooks reach the controller there).";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/flotilla-controller.env";
      description = ''
        systemd EnvironmentFile with e.g. GITHUB_TOKEN=... and FLOTILLA_WEBHOOK_SECRET=...,
        referenced from settings as `{ env = "..."; }`. Keep it out of the Nix store.
      '';
    };
  };

  config = mkIf cfg.enable (lib.mkMerge [
    {
      assertions = [
        {
          assertion = cfg.settings.fleet.remotes != [ ];
          message = "services.flotilla.controller.settings.fleet.remotes must list at least one remote.";
        }
        {
          assertion = !cfg.database.createLocally || cfg.database.name == cfg.user;
          message = "services.flotilla.controller.database.name must equal services.flotilla.controller.user when createLocally is set (PostgreSQL ensureDBOwnership).";
        }
        {
          assertion = !cfg.database.createLocally || cfg.settings.database == null;
          message = "services.flotilla.controller: set either database.createLocally or settings.database, not both.";
        }
      ];

      users.users.${cfg.user} = {
        isSystemUser = true;
        group = cfg.user;
        home = cfg.settings.dataDir;
        description = "Flotilla controller";
      };
      users.groups.${cfg.user} = { };

      # A stable path for operators and `flotilla` commands run on this host;
      # restartTriggers restarts the controller when it changes.
      environment.etc."flotilla/controller.json".source = configFile;
      environment.systemPackages = [ cfg.package ];

      networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall listenPort;

      systemd.services.flotilla-controller = {
        description = "Flotilla controller";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" ] ++ lib.optional cfg.database.createLocally "postgresql.service";
        requires = lib.optional cfg.database.createLocally "postgresql.service";
        restartTriggers = [ configFile ];
        path = [ pkgs.git pkgs.openssh ];
        environment.HOME = cfg.settings.dataDir;

        serviceConfig = {
          Type = "exec";
          ExecStart = "${cfg.package}/bin/flotilla serve --config /etc/flotilla/controller.json";
          User = cfg.user;
          Group = cfg.user;
          Restart = "on-failure";
          RestartSec = "5s";
          StateDirectory = stateDirName;
          StateDirectoryMode = "0750";
          WorkingDirectory = cfg.settings.dataDir;
          UMask = "0027";
          LimitNOFILE = limitNofile;

          # The controller only serves HTTP, talks to git remotes, GitHub and
          # PostgreSQL, so the full sandbox applies.
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          PrivateUsers = listenPort >= 1024;
          ProtectHostname = true;
          ProtectClock = true;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectProc = "invisible";
          RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          # Node's JIT needs writable+executable memory: MemoryDenyWriteExecute stays off.
          MemoryDenyWriteExecute = false;
          SystemCallArchitectures = "native";
          SystemCallFilter = [ "@system-service" "~@privileged" "~@resources" ];
          CapabilityBoundingSet = if listenPort < 1024 then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
          AmbientCapabilities = lib.optional (listenPort < 1024) "CAP_NET_BIND_SERVICE";
        } // lib.optionalAttrs (cfg.environmentFile != null) {
          EnvironmentFile = cfg.environmentFile;
        };
      };
    }

    (mkIf cfg.database.createLocally {
      services.postgresql = {
        enable = true;
        ensureDatabases = [ cfg.database.name ];
        ensureUsers = [{
          name = cfg.user;
          ensureDBOwnership = true;
        }];
      };
    })
  ]);
}
