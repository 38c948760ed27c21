# db-1: PostgreSQL. Pinned in fleet.yaml: it stays on a known revision while
# the web hosts roll forward, until someone moves the pin.
{ config, pkgs, ... }:

{
  imports = [ ./hardware-vm.nix ];

  sops.secrets.db-password = {
    sopsFile = ../secrets/db.yaml;
    key = "password";
    owner = "postgres";
  };

  services.postgresql = {
    enable = true;
    package = pkgs.postgresql_16;
    ensureDatabases = [ "shop" ];
    ensureUsers = [{ name = "shop"; ensureDBOwnership = true; }];
    enableTCPIP = true;
    authentication = ''
      host shop shop 10.0.0.0/24 scram-sha-256
    '';
  };

  # Sets the shop role's password from the sops-nix secret after PostgreSQL starts.
  systemd.services.shop-db-password = {
    after = [ "postgresql.service" ];
    requires = [ "postgresql.service" ];
    wantedBy = [ "multi-user.target" ];
    serviceConfig = { Type = "oneshot"; User = "postgres"; };
    script = ''
      pw=$(cat ${config.sops.secrets.db-password.path})
      ${config.services.postgresql.package}/bin/psql -c "ALTER ROLE shop PASSWORD '$pw'"
    '';
  };

  networking.firewall.allowedTCPPorts = [ 5432 ];
}
