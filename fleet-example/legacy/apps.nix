# The legacy deploy interface (the convention docs/agent.md, "Activation", describes): flake apps that run the
# same `shop` package on a non-NixOS host as a systemd --user service of an
# unprivileged deploy user. Flotilla's agent on that host builds
# `<fleet repo at the revision>#build-legacy` as `nix run` would, then runs its
# program in the project directory with .env.production (else .env.local)
# loaded, and rolls back by running the previous good revision's build-legacy.
{ pkgs, shop }:

let
  projectDir = "$HOME/fleet";
  binDir = "$HOME/bin/shop";
  aliasPrefix = "shop";

  # One env-loading convention for every app: .env.production wins over .env.local.
  loadEnv = ''
    mkdir -p "${projectDir}"
    cd "${projectDir}"
    # shellcheck disable=SC1091
    if [ -f .env.production ]; then
      set -a; source .env.production; set +a
    elif [ -f .env.local ]; then
      set -a; source .env.local; set +a
    fi
  '';

  app = name: runtimeInputs: text:
    pkgs.writeShellApplication { inherit name runtimeInputs text; };
in
{
  # First-time validation: data directory, and the service checks its config.
  setup = app "setup" [ ] ''
    ${loadEnv}
    mkdir -p "${projectDir}/.data"
    SERVICE_DB_PATH="''${SERVICE_DB_PATH:-${projectDir}/.data/shop.db}" ${shop}/bin/shop --check-config
    echo "setup complete"
  '';

  # The deploy button. `nix run` (or the agent's build) already built this
  # revision's `shop` (it is in this script's closure), so instead of a second `nix build` we point a
  # GC root at it and regenerate the unit from the same Nix values.
  build-legacy = app "build-legacy" [ pkgs.systemd pkgs.nix ] ''
    ${loadEnv}
    echo "stopping shop"
    systemctl --user stop shop || true

    nix-store --add-root "${projectDir}/result" --realise ${shop} >/dev/null

    mkdir -p "$HOME/.config/systemd/user" "${projectDir}/.data"
    cat > "$HOME/.config/systemd/user/shop.service" <<UNIT
    [Unit]
    Description=shop example service
    After=network.target

    [Service]
    Type=exec
    ExecStart=${projectDir}/result/bin/shop
    Environment=SERVICE_PORT=''${SERVICE_PORT:-8080}
    Environment=SERVICE_BIND_ADDRESS=''${SERVICE_BIND_ADDRESS:-127.0.0.1}
    Environment=SERVICE_DB_PATH=''${SERVICE_DB_PATH:-${projectDir}/.data/shop.db}
    EnvironmentFile=-${projectDir}/.env.production
    Restart=on-failure
    RestartSec=5

    [Install]
    WantedBy=default.target
    UNIT

    systemctl --user daemon-reload
    systemctl --user enable --now shop
    echo "shop started from ${shop}"
  '';

  # Operator commands in ~/bin/shop and shell aliases for them.
  install = app "install" [ ] ''
    mkdir -p "${binDir}"

    cat > "${binDir}/tail-log" <<'EOF'
    #!/usr/bin/env bash
    exec journalctl --user -u shop -f
    EOF
    cat > "${binDir}/dump-db" <<EOF
    #!/usr/bin/env bash
    cd "${projectDir}" && exec nix run .#dump-db
    EOF
    chmod +x "${binDir}/tail-log" "${binDir}/dump-db"

    cat > "${binDir}/bash_setup" <<EOF
    echo "alias ${aliasPrefix}_tail_log='${binDir}/tail-log'"
    echo "alias ${aliasPrefix}_dump_db='${binDir}/dump-db'"
    EOF
    cat > "${binDir}/fish_setup" <<EOF
    echo "alias ${aliasPrefix}_tail_log '${binDir}/tail-log'"
    echo "alias ${aliasPrefix}_dump_db '${binDir}/dump-db'"
    EOF
    echo "installed operator commands in ${binDir}; add: eval \"\$(${binDir}/bash_setup)\""
  '';

  # Backup; fleet.yaml runs it as the pre-deploy hook, so every deploy of the
  # legacy host starts with a fresh dump.
  dump-db = app "dump-db" [ pkgs.sqlite pkgs.bzip2 ] ''
    ${loadEnv}
    DB_PATH="''${SERVICE_DB_PATH:-${projectDir}/.data/shop.db}"
    mkdir -p "${projectDir}/backups"
    OUTPUT="${projectDir}/backups/db-export-$(date +%Y%m%d_%H%M%S).sql.bz2"
    sqlite3 "$DB_PATH" .dump | bzip2 > "$OUTPUT"
    echo "exported to $OUTPUT"
  '';
}
