# NixOS module for the shop service: a hardened system unit whose environment
# file comes from sops-nix (secrets/shop.env, decrypted at activation with the
# host's SSH key).
{ self }:
{ config, lib, pkgs, ... }:

let
  cfg = config.services.shop;
in
{
  options.services.shop = {
    enable = lib.mkEnableOption "the shop example service";
    port = lib.mkOption {
      type = lib.types.port;
      default = 8080;
      description = "Port the service listens on (127.0.0.1).";
    };
  };

  config = lib.mkIf cfg.enable {
    sops.secrets.shop-env = {
      sopsFile = ../secrets/shop.env;
      format = "dotenv";
      restartUnits = [ "shop.service" ];
    };

    systemd.services.shop = {
      description = "shop example service";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment = {
        SERVICE_PORT = toString cfg.port;
        SERVICE_BIND_ADDRESS = "127.0.0.1";
        SERVICE_DB_PATH = "/var/lib/shop/shop.db";
      };
      serviceConfig = {
        ExecStart = "${self.packages.${pkgs.stdenv.hostPlatform.system}.shop}/bin/shop";
        EnvironmentFile = config.sops.secrets.shop-env.path;
        DynamicUser = true;
        StateDirectory = "shop";
        Restart = "on-failure";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
      };
    };
  };
}
