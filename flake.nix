# Flotilla: pull-based GitOps for Nix machines.
#
# Outputs (docs/packaging.md says what each does and how to use it):
#   packages.<system>.flotilla (= default)   both CLIs, built from package-lock.json
#   apps.<system>.flotilla, .flotilla-agent   the CLIs
#   apps.<system>.install-legacy-agent        systemd --user install on non-NixOS hosts
#   nixosModules.agent, .controller, .default services.flotilla.{agent,controller}
#   overlays.default                          pkgs.flotilla
#   checks.<system>.*                         the package, module evaluations, config schemas
#   devShells.<system>.default, formatter.<system>
#
# No flake.lock is committed yet: it can only be written with network access
# (`nix flake lock`); see docs/packaging.md.
{
  description = "Flotilla: fleet orchestrator with pull-based GitOps for Nix machines";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The npm registry the lockfile's packages are fetched from is the
      # `registry=` line of ./.npmrc (package-lock.json has no `resolved`
      # URLs; nix/lib/npm-lock.nix rebuilds them from it). nix/package.nix
      # reads it, so the package, the modules' default package and the
      # agent's self-update (which builds this flake at a revision) all use
      # that one line. See docs/packaging.md, "The npm registry".
      flotillaFor = pkgs: pkgs.callPackage ./nix/package.nix { };

      # The modules take their default package from the flake.
      withPackage = module: name: { pkgs, ... }: {
        imports = [ module ];
        services.flotilla.${name}.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.flotilla;
      };

      app = drv: bin: description: {
        type = "app";
        program = "${drv}/bin/${bin}";
        meta.description = description;
      };
    in
    {
      packages = forAllSystems (pkgs: rec {
        flotilla = flotillaFor pkgs;
        default = flotilla;
        install-legacy-agent = pkgs.callPackage ./nix/install-legacy-agent.nix { inherit flotilla; };
      });

      apps = forAllSystems (pkgs:
        let p = self.packages.${pkgs.stdenv.hostPlatform.system};
        in rec {
          flotilla = app p.flotilla "flotilla" "Flotilla operator CLI and controller";
          flotilla-agent = app p.flotilla "flotilla-agent" "Flotilla node agent";
          install-legacy-agent = app p.install-legacy-agent "install-legacy-agent"
            "Install flotilla-agent as a systemd --user service on a non-NixOS host";
          default = flotilla;
        });

      overlays.default = final: _prev: { flotilla = flotillaFor final; };

      nixosModules = {
        agent = withPackage ./nix/modules/agent.nix "agent";
        controller = withPackage ./nix/modules/controller.nix "controller";
        default = { imports = [ self.nixosModules.agent self.nixosModules.controller ]; };
      };

      checks = forAllSystems (pkgs: import ./nix/checks.nix {
        inherit pkgs nixpkgs;
        flotilla = self.packages.${pkgs.stdenv.hostPlatform.system}.flotilla;
        modules = { inherit (self.nixosModules) agent controller; };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.nodejs_20 pkgs.python3 pkgs.git pkgs.age pkgs.shellcheck pkgs.nixfmt-rfc-style ];
        };
      });

      formatter = forAllSystems (pkgs: pkgs.nixfmt-rfc-style);
    };
}
