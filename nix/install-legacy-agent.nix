# apps.<system>.install-legacy-agent: the legacy-host installer
# (nix/install-legacy-agent.sh) with the package and the start wrapper baked
# in. systemctl, loginctl, journalctl and nix-env deliberately come from the
# host: they must match its systemd and its nix-daemon.
{ writeShellApplication, coreutils, diffutils, gnugrep, openssh, flotilla }:
writeShellApplication {
  name = "install-legacy-agent";
  runtimeInputs = [ coreutils diffutils gnugrep openssh ];
  text = ''
    export FLOTILLA_PACKAGE=${flotilla}
    export FLOTILLA_START_WRAPPER_SOURCE=${./agent-start-wrapper.sh}
  '' + builtins.readFile ./install-legacy-agent.sh;
}
