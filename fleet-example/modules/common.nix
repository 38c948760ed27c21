# Settings every NixOS host of the example fleet shares.
{ config, lib, pkgs, ... }:

{
  # sops-nix decrypts with the host's SSH key, converted to an age identity;
  # its age recipient (ssh-to-age) is what .sops.yaml lists for the host.
  sops.age.sshKeyPaths = [ "/etc/ssh/ssh_host_ed25519_key" ];

  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
  };

  nix.settings = {
    experimental-features = [ "nix-command" "flakes" ];
    trusted-users = [ "root" ];
  };

  # The Flotilla agent itself comes from Flotilla's flake: add it as an input
  # and import its nixosModules.agent (services.flotilla.agent; see
  # docs/packaging.md in the Flotilla repo). It polls this repo and switches
  # to nixosConfigurations.<host> as fleet.yaml's waves allow.

  networking.firewall.allowedTCPPorts = [ 22 80 ];
  time.timeZone = "UTC";
  system.stateVersion = "25.05";
}
