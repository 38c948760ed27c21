# The service every host runs: a small HTTP app with a SQLite database
# (app/server.py). One package, used by the NixOS module and the legacy apps.
{ writeShellApplication, python3 }:

writeShellApplication {
  name = "shop";
  runtimeInputs = [ python3 ];
  text = ''
    exec python3 ${../app/server.py} "$@"
  '';
}
