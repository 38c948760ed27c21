# install-legacy-agent: sets up flotilla-agent on a non-NixOS host (Debian,
# Ubuntu, ... with Nix installed) as a systemd --user service of the deploy
# user, in the style of the legacy flake apps (docs/agent.md): one command writes
# the config, the env file, the unit, the operator scripts, the aliases and
# the MOTD, and can be re-run at any time.
#
# Plain bash with no Nix interpolation: nix/install-legacy-agent.nix prepends
#   FLOTILLA_PACKAGE              the flotilla package (store path) to install
#   FLOTILLA_START_WRAPPER_SOURCE nix/agent-start-wrapper.sh in the store
# and the tests run it the same way with their own values.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: install-legacy-agent [options]

Writes ~/.config/flotilla/agent.yaml (unless it exists; see --force), an env
file, the systemd --user unit flotilla-agent.service, operator scripts in
~/bin/flotilla with aliases and a MOTD, then enables and starts the unit.

  --host NAME          this machine's name in fleet.yaml        (env FLOTILLA_HOST)
  --remote URL         fleet repo remote; repeat for fallbacks  (env FLOTILLA_REMOTES, space-separated)
  --branch NAME        fleet branch (agent default: main)       (env FLOTILLA_BRANCH)
  --controller URL     controller URL                           (env FLOTILLA_CONTROLLER)
  --host-key PATH      ed25519 key the agent signs with and decrypts secrets with
                       (default /etc/ssh/ssh_host_ed25519_key; env FLOTILLA_HOST_KEY)
  --agent-key          generate and use a per-host agent key instead of the host key
                       (~/.config/flotilla/agent_ed25519); see docs/packaging.md
  --config FILE        install this agent config file instead of writing one
  --force              overwrite an existing agent.yaml
  --no-start           do not enable or (re)start the unit
  --no-shell-rc        do not add the alias/MOTD hook to ~/.bashrc, ~/.zshrc, fish
  --package PATH       flotilla package to install (default: the one this app was built with)
  --allow-root         install for root's user manager anyway (tests; prefer a system unit)
  -h, --help           this text
USAGE
}

die() { echo "install-legacy-agent: $*" >&2; exit 1; }
say() { echo "install-legacy-agent: $*"; }

host="${FLOTILLA_HOST:-}"
read -r -a remotes <<<"${FLOTILLA_REMOTES:-}"
branch="${FLOTILLA_BRANCH:-}"
controller="${FLOTILLA_CONTROLLER:-}"
host_key="${FLOTILLA_HOST_KEY:-/etc/ssh/ssh_host_ed25519_key}"
agent_key=0 config_src="" force=0 start=1 shell_rc=1 allow_root=0
package="${FLOTILLA_PACKAGE:-}"

while [ $# -gt 0 ]; do
  case "$1" in
    --host) host="${2:?--host needs a value}"; shift 2 ;;
    --remote) remotes+=("${2:?--remote needs a value}"); shift 2 ;;
    --branch) branch="${2:?--branch needs a value}"; shift 2 ;;
    --controller) controller="${2:?--controller needs a value}"; shift 2 ;;
    --host-key) host_key="${2:?--host-key needs a value}"; shift 2 ;;
    --agent-key) agent_key=1; shift ;;
    --config) config_src="${2:?--config needs a value}"; shift 2 ;;
    --force) force=1; shift ;;
    --no-start) start=0; shift ;;
    --no-shell-rc) shell_rc=0; shift ;;
    --package) package="${2:?--package needs a value}"; shift 2 ;;
    --allow-root) allow_root=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

if [ "$(id -u)" = 0 ] && [ "$allow_root" != 1 ]; then
  die "run this as the deploy user, not root (the agent runs as a systemd --user service); --allow-root overrides"
fi
if [ -z "$package" ] || [ ! -x "$package/bin/flotilla-agent" ]; then
  die "no flotilla package with bin/flotilla-agent (got '${package}')"
fi
if [ -z "${FLOTILLA_START_WRAPPER_SOURCE:-}" ] || [ ! -f "$FLOTILLA_START_WRAPPER_SOURCE" ]; then
  die "FLOTILLA_START_WRAPPER_SOURCE is not set to the start wrapper"
fi
command -v nix-env >/dev/null || die "nix-env not found on PATH: install Nix first (multi-user daemon install)"

user="$(id -un)"
uid="$(id -u)"
config_dir="${XDG_CONFIG_HOME:-$HOME/.config}/flotilla"
state_home="${XDG_STATE_HOME:-$HOME/.local/state}"
state_dir="$state_home/flotilla"
profile_dir="$state_home/nix/profiles"
profile="$profile_dir/flotilla-agent"
fallback_profile="$profile_dir/flotilla-agent-installed"
libexec_dir="$HOME/.local/libexec/flotilla"
unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
unit="$unit_dir/flotilla-agent.service"
secrets_unit="$unit_dir/flotilla-secrets.service"
bin_dir="$HOME/bin/flotilla"
config="$config_dir/agent.yaml"
env_file="$config_dir/agent.env"
secrets_root="/run/user/$uid/flotilla/secrets.d"

# A directory root created for us (e.g. `install -D` of the host key copy
# creates ~/.config owned by root) would fail below with a bare mkdir error.
for d in "$(dirname "$config_dir")" "$config_dir" "$(dirname "$unit_dir")" "$unit_dir"; do
  if [ -d "$d" ] && [ ! -w "$d" ]; then
    die "$d is not writable by $user (owner: $(stat -c %U "$d")); as root: chown $user: $d"
  fi
done
mkdir -p "$config_dir" "$state_dir" "$profile_dir" "$libexec_dir" "$unit_dir" "$bin_dir"
chmod 700 "$config_dir" "$state_dir"

# 1. The package: the agent profile (what self-update switches) and a second
#    profile that keeps the installed package alive as the wrapper's fallback.
current="$(readlink -f "$profile" 2>/dev/null || true)"
if [ "$current" != "$(readlink -f "$package")" ]; then
  say "setting $profile to $package${current:+ (was $current)}"
  nix-env -p "$profile" --set "$package" >/dev/null
fi
nix-env -p "$fallback_profile" --set "$package" >/dev/null

# 2. The agent config.
yaml_str() {
  case "$1" in
    *[[:cntrl:]]*) die "control characters are not allowed in: $1" ;;
  esac
  local s="${1//\\/\\\\}"
  printf '"%s"' "${s//\"/\\\"}"
}

if [ "$agent_key" = 1 ]; then
  host_key="$config_dir/agent_ed25519"
  if [ ! -f "$host_key" ]; then
    command -v ssh-keygen >/dev/null || die "--agent-key needs ssh-keygen (apt-get install openssh-client)"
    ssh-keygen -q -t ed25519 -N "" -C "flotilla-agent@$(uname -n)" -f "$host_key"
    say "generated per-host agent key $host_key; add this recipient/identity to the fleet repo:"
    cat "$host_key.pub"
  fi
fi

if [ -n "$config_src" ]; then
  [ -f "$config_src" ] || die "--config $config_src: no such file"
  if [ -f "$config" ] && [ "$force" != 1 ] && ! cmp -s "$config_src" "$config"; then
    die "$config exists and differs from $config_src; pass --force to replace it"
  fi
  install -m 600 "$config_src" "$config"
  say "installed $config from $config_src"
elif [ -f "$config" ] && [ "$force" != 1 ]; then
  say "keeping existing $config (--force to rewrite it from flags)"
else
  [ -n "$host" ] || die "--host (or FLOTILLA_HOST) is required to write $config"
  [[ "$host" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || die "--host '$host' is not a valid host name (lowercase letters, digits, '-')"
  [ "${#remotes[@]}" -gt 0 ] || die "at least one --remote (or FLOTILLA_REMOTES) is required to write $config"
  tmp="$config.tmp.$$"
  {
    echo "# flotilla-agent config for $host, written by install-legacy-agent."
    echo "# Format: schemas/src/agent-config.ts. Re-run with --force to rewrite it."
    echo "host: $(yaml_str "$host")"
    echo "remotes:"
    for r in "${remotes[@]}"; do echo "  - $(yaml_str "$r")"; done
    if [ -n "$branch" ]; then echo "branch: $(yaml_str "$branch")"; fi
    if [ -n "$controller" ]; then echo "controller: $(yaml_str "$controller")"; fi
    echo "stateDir: $(yaml_str "$state_dir")"
    echo "hostKeyPath: $(yaml_str "$host_key")"
    echo "secretsRoot: $(yaml_str "$secrets_root")"
    echo "legacyProfileDir: $(yaml_str "$state_dir/legacy")"
    echo "commands:"
    echo "  # The agent already runs as the deploy user: no runuser prefix."
    echo "  runAs: []"
  } >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$config"
  say "wrote $config"
fi

if [ ! -r "$host_key" ]; then
  # Not chmod/setfacl on the key itself: sshd refuses a host key that is
  # readable by anyone but root ("permissions too open") and would stop using it.
  echo "install-legacy-agent: WARNING: $user cannot read $host_key." >&2
  echo "  Either give $user its own copy of the host key (same identity; re-copy after rotating it):" >&2
  echo "    sudo install -d -o $user -g $(id -gn) -m 700 $(dirname "$config_dir") $config_dir" >&2
  echo "    sudo install -o $user -m 600 /etc/ssh/ssh_host_ed25519_key $config_dir/host_ed25519_key" >&2
  echo "    and re-run with --host-key $config_dir/host_ed25519_key --force" >&2
  echo "  or re-run with --agent-key --force to use a per-host agent key (see docs/packaging.md)." >&2
fi

# 3. The env file (never overwritten: it may hold tokens).
if [ ! -f "$env_file" ]; then
  (
    umask 077
    cat >"$env_file" <<ENV
# Environment for flotilla-agent.service (systemd EnvironmentFile syntax).
# Loaded by the unit and by the ~/bin/flotilla scripts. Never overwritten.
#FLOTILLA_LOG_LEVEL=info
# Private fleet repo over ssh with a deploy key:
#GIT_SSH_COMMAND=ssh -i $config_dir/deploy_key -o IdentitiesOnly=yes
# Private flake inputs: prefer access-tokens in ~/.config/nix/nix.conf and
# list $user in trusted-users in /etc/nix/nix.conf (see docs/packaging.md).
ENV
  )
  say "wrote $env_file"
fi

# 4. The start wrapper, copied out of the store so the unit never points at a
#    path the garbage collector may remove.
{
  echo "#!/usr/bin/env bash"
  cat "$FLOTILLA_START_WRAPPER_SOURCE"
} >"$libexec_dir/agent-start.tmp"
chmod 755 "$libexec_dir/agent-start.tmp"
mv -f "$libexec_dir/agent-start.tmp" "$libexec_dir/agent-start"

# 5. The unit.
cat >"$unit.tmp" <<UNIT
# Written by install-legacy-agent; re-run it rather than editing this file.
[Unit]
Description=Flotilla agent (legacy host, user $user)
StartLimitIntervalSec=0
Wants=flotilla-secrets.service
After=flotilla-secrets.service

[Service]
Type=exec
Environment=FLOTILLA_AGENT_PROFILE=$profile
Environment=FLOTILLA_AGENT_FALLBACK=$fallback_profile
Environment=FLOTILLA_STATE_DIR=$state_dir
# The agent fingerprints this file, its config and its package at start and
# exits 75 (restarted below) when one of them changed.
Environment=FLOTILLA_AGENT_UNIT_FILE=$unit
Environment=PATH=$HOME/.nix-profile/bin:$profile/bin:/nix/var/nix/profiles/default/bin:/usr/local/bin:/usr/bin:/bin
EnvironmentFile=-$env_file
ExecStart=$libexec_dir/agent-start run --config $config
Restart=always
RestartSec=5
# 75 (EX_TEMPFAIL): the agent switched its own profile, or its unit, config or
# package changed since it started, and wants to be started again.
RestartForceExitStatus=75
SuccessExitStatus=75
# SIGTERM to the agent only: it lets a switch in progress finish and records it
# (within 4 min, the agent's STOP_BOUND_MS); what is left is killed after this.
KillMode=mixed
TimeoutStopSec=5min
RuntimeDirectory=flotilla
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
UMask=0077

[Install]
WantedBy=default.target
UNIT
mv -f "$unit.tmp" "$unit"
say "wrote $unit"

# After a reboot the secrets root (a tmpfs) is empty: this oneshot re-installs
# the current revision's secrets. Units that need them order themselves
# After=flotilla-secrets.service, never after the agent: a unit ordered after
# flotilla-agent.service cannot be (re)started while the agent is stopping, so
# a deploy restarting it during `systemctl --user stop flotilla-agent` would
# wait for the stop, and the stop for the deploy.
cat >"$secrets_unit.tmp" <<UNIT
# Written by install-legacy-agent; re-run it rather than editing this file.
[Unit]
Description=Flotilla: re-install the current revision's secrets after boot (user $user)
Before=flotilla-agent.service

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=FLOTILLA_STATE_DIR=$state_dir
Environment=PATH=$HOME/.nix-profile/bin:$profile/bin:/nix/var/nix/profiles/default/bin:/usr/local/bin:/usr/bin:/bin
EnvironmentFile=-$env_file
# "-": a host whose secrets cannot be restored still boots; the next deploy installs them.
ExecStart=-$profile/bin/flotilla-agent restore-secrets --config $config
RuntimeDirectory=flotilla
RuntimeDirectoryMode=0700
RuntimeDirectoryPreserve=yes
UMask=0077

[Install]
WantedBy=default.target
UNIT
mv -f "$secrets_unit.tmp" "$secrets_unit"
say "wrote $secrets_unit"

# 6. Operator scripts, aliases and the MOTD (~/bin/<service>/..., as legacy apps do).
#    Every value baked into a generated script is quoted with printf %q.
q() { printf '%q' "$1"; }
write_script() {
  local name="$1" body="$2"
  printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$body" >"$bin_dir/$name.tmp"
  chmod 755 "$bin_dir/$name.tmp"
  mv -f "$bin_dir/$name.tmp" "$bin_dir/$name"
}
agent_bin="$profile/bin/flotilla-agent"
load_env="if [ -f $(q "$env_file") ]; then set -a; . $(q "$env_file"); set +a; fi"

write_script status "$load_env
systemctl --user status --no-pager flotilla-agent.service || true
echo
exec $(q "$agent_bin") status --config $(q "$config") \"\$@\""
write_script logs "exec journalctl --user -u flotilla-agent.service -f \"\$@\""
write_script retry "$load_env
exec $(q "$agent_bin") retry --config $(q "$config") \"\$@\""
write_script restart "exec systemctl --user restart flotilla-agent.service"
write_script config "exec \"\${EDITOR:-vi}\" $(q "$config") $(q "$env_file")"

# name|script|what it does
aliases=(
  "flotilla_status|status|unit state and the agent's last deployment"
  "flotilla_logs|logs|follow the agent's journal"
  "flotilla_retry|retry|retry the last failed revision now"
  "flotilla_restart|restart|restart the agent service"
  "flotilla_config|config|edit agent.yaml and agent.env"
)
bash_setup="# Prints alias definitions for bash and zsh: eval \"\$(~/bin/flotilla/bash_setup)\""
fish_setup="# Prints alias definitions for fish: eval (~/bin/flotilla/fish_setup)"
motd="printf '\\n  \\033[1;36m%s\\033[0m\\n\\n' $(q "Flotilla agent (${host:-see $config})")
printf '  %-18s %s\\n' Config: $(q "$config")
printf '  %-18s %s\\n' 'Environment file:' $(q "$env_file")
printf '  %-18s %s\\n' State: $(q "$state_dir")
printf '  %-18s %s\\n\\n' Service: 'systemctl --user status flotilla-agent'
printf '  \\033[1mAliases:\\033[0m\\n'"
for a in "${aliases[@]}"; do
  IFS='|' read -r name script what <<<"$a"
  bash_setup+=$'\n'"printf '%s\\n' $(q "alias $name=$(q "$bin_dir/$script")")"
  fish_setup+=$'\n'"printf '%s\\n' $(q "alias $name $(q "$bin_dir/$script")")"
  motd+=$'\n'"printf '    %-20s %s\\n' $name $(q "$what")"
done
motd+=$'\n'"printf '\\n'"
write_script bash_setup "$bash_setup"
write_script fish_setup "$fish_setup"
write_script motd "$motd"

if [ "$shell_rc" = 1 ]; then
  hook_begin="# >>> flotilla (install-legacy-agent) >>>"
  hook_end="# <<< flotilla <<<"
  for rc in "$HOME/.bashrc" "$HOME/.zshrc"; do
    if [ "$rc" = "$HOME/.zshrc" ] && [ ! -f "$rc" ]; then continue; fi
    if ! grep -qF "$hook_begin" "$rc" 2>/dev/null; then
      {
        printf '\n%s\n' "$hook_begin"
        # shellcheck disable=SC2016 # written literally, expanded by the login shell
        printf 'case $- in *i*) eval "$(%s)"; %s ;; esac\n' "$(q "$bin_dir/bash_setup")" "$(q "$bin_dir/motd")"
        printf '%s\n' "$hook_end"
      } >>"$rc"
      say "added aliases and MOTD to $rc"
    fi
  done
  if [ -d "${XDG_CONFIG_HOME:-$HOME/.config}/fish" ]; then
    fish_conf="${XDG_CONFIG_HOME:-$HOME/.config}/fish/conf.d/flotilla.fish"
    mkdir -p "$(dirname "$fish_conf")"
    printf 'if status is-interactive\n    eval (%s)\n    %s\nend\n' "$(q "$bin_dir/fish_setup")" "$(q "$bin_dir/motd")" >"$fish_conf"
  fi
fi

# 7. Enable and start.
if [ "$start" = 1 ]; then
  if ! systemctl --user daemon-reload; then
    die "systemctl --user failed: log in as $user directly (ssh, or 'machinectl shell $user@'), not via sudo/su, so the user manager is reachable; then re-run"
  fi
  systemctl --user enable flotilla-secrets.service flotilla-agent.service
  systemctl --user restart flotilla-agent.service
  say "flotilla-secrets.service and flotilla-agent.service enabled, flotilla-agent.service (re)started"
else
  say "not starting (--no-start); later: systemctl --user daemon-reload && systemctl --user enable --now flotilla-secrets.service flotilla-agent.service"
fi

linger="$(loginctl show-user "$user" --property=Linger --value 2>/dev/null || true)"
if [ "$linger" != yes ]; then
  echo
  echo "NOTE: without lingering, systemd stops $user's services at logout and does not start"
  echo "      them at boot. Enable it once (needs root):"
  echo "        sudo loginctl enable-linger $user"
fi
echo
"$bin_dir/motd"
