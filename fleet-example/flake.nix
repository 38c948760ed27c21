# Example Flotilla fleet: three NixOS hosts and one legacy (non-NixOS) host,
# all built from this one flake. Copy this directory to start your own fleet
# repo; fleet.yaml tells Flotilla's agents and controller how to roll it out.
#
# - nixosConfigurations.<host>: what the NixOS agents build and switch to.
#   Secrets of NixOS hosts come from sops-nix (secrets/*.yaml, .sops.yaml).
# - apps.<system>.{setup,build-legacy,install,dump-db}: the legacy deploy
#   interface (one flake, two ways to run it). The agent on the legacy host
#   runs `nix run <fleet repo at the revision>#build-legacy` as the deploy user.
{
  description = "Example Flotilla fleet";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";
    flake-utils.url = "github:numtide/flake-utils";
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, flake-utils, sops-nix }:
    let
      mkHost = name: system:
        nixpkgs.lib.nixosSystem {
          inherit system;
          modules = [
            sops-nix.nixosModules.sops
            self.nixosModules.shop
            ./modules/common.nix
            (./hosts + "/${name}.nix")
            {
              networking.hostName = name;
              # Agents report this; `nixos-version --configuration-revision` shows it.
              system.configurationRevision = self.rev or "dirty";
            }
          ];
        };
    in
    {
      nixosModules.shop = import ./modules/shop.nix { inherit self; };

      nixosConfigurations = {
        web-1 = mkHost "web-1" "x86_64-linux";
        web-2 = mkHost "web-2" "x86_64-linux";
        db-1 = mkHost "db-1" "x86_64-linux";
      };
    }
    // flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = nixpkgs.legacyPackages.${system};
        shop = pkgs.callPackage ./pkgs/shop.nix { };
        legacy = import ./legacy/apps.nix { inherit pkgs shop; };
        app = drv: flake-utils.lib.mkApp { inherit drv; };
      in
      {
        packages = {
          default = shop;
          inherit shop;
        };

        apps = {
          setup = app legacy.setup;
          build-legacy = app legacy.build-legacy;
          install = app legacy.install;
          dump-db = app legacy.dump-db;
        };

        checks.shop = shop;

        devShells.default = pkgs.mkShell {
          packages = [ pkgs.sops pkgs.ssh-to-age pkgs.age ];
        };
      });
}
