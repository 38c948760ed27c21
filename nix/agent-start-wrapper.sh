# flotilla-agent start wrapper: picks the agent binary to run and undoes a
# self-update that crash-loops. Sourced into a writeShellApplication by
# nix/agent-start-wrapper.nix (NixOS) and copied by the legacy installer, so
# it is plain bash with no Nix interpolation; everything comes from the
# environment:
#
#   FLOTILLA_AGENT_PROFILE       agent profile the self-update switches
#                                (default /nix/var/nix/profiles/flotilla-agent)
#   FLOTILLA_AGENT_FALLBACK      package (store path) installed by the module or
#                                installer; used while the profile is empty
#   FLOTILLA_STATE_DIR           where the marker lives (default /var/lib/flotilla)
#   FLOTILLA_AGENT_MAX_STARTS    starts of an unconfirmed profile target before
#                                it is rolled back (default 3)
#   FLOTILLA_AGENT_STABLE_SECS   a run that lasted at least this long before the
#                                next start confirms its target (default 120)
#
# Why a marker and not the agent's own bookkeeping: a broken new agent may not
# get far enough to write anything, so the judgement must live outside it.
# Each start records, in <state>/agent-start.state, the profile target it
# starts, whether that target is confirmed, how many times in a row it was
# started, the time of the last start, and the last confirmed target. A
# target is confirmed once a start comes at least STABLE_SECS after the
# previous one (the previous run stayed up). An unconfirmed target started
# MAX_STARTS times in a row (systemd restarts it every RestartSec) is judged
# crash-looping: the profile is set back to the last confirmed target with
# `nix-env --set` (a new generation pointing at the recorded path, never
# `--rollback`, whose idea of "previous" may be wrong), or, when no target
# was ever confirmed, the fallback package runs while the profile stays as it
# is. A newly switched target (exit 75 after a self-update) starts unconfirmed
# with a count of 1.
set -euo pipefail

profile="${FLOTILLA_AGENT_PROFILE:-/nix/var/nix/profiles/flotilla-agent}"
fallback="${FLOTILLA_AGENT_FALLBACK:-}"
state_dir="${FLOTILLA_STATE_DIR:-/var/lib/flotilla}"
max_starts="${FLOTILLA_AGENT_MAX_STARTS:-3}"
stable_secs="${FLOTILLA_AGENT_STABLE_SECS:-120}"
marker="$state_dir/agent-start.state"

log() { echo "flotilla-agent-start: $*" >&2; }

run() {
  log "starting $1/bin/flotilla-agent"
  export FLOTILLA_AGENT_STARTED_FROM="$1"
  exec "$1/bin/flotilla-agent" "${@:2}"
}

run_fallback() {
  if [ -z "$fallback" ] || [ ! -x "$fallback/bin/flotilla-agent" ]; then
    log "no usable agent: $profile has none and FLOTILLA_AGENT_FALLBACK (${fallback:-unset}) has no bin/flotilla-agent"
    exit 78 # EX_CONFIG: systemd keeps restarting; the journal says why
  fi
  run "$fallback" "$@"
}

# Marker fields, read with defaults (the file may be missing or from an older wrapper).
m_target="" m_confirmed=0 m_starts=0 m_last=0 m_previous="" m_failed=""
if [ -f "$marker" ]; then
  while IFS='=' read -r key value; do
    case "$key" in
      target) m_target="$value" ;;
      confirmed) m_confirmed="$value" ;;
      starts) m_starts="$value" ;;
      last_start) m_last="$value" ;;
      previous) m_previous="$value" ;;
      failed) m_failed="$value" ;;
    esac
  done <"$marker"
fi

write_marker() {
  mkdir -p "$state_dir"
  local tmp="$marker.tmp.$$"
  printf 'target=%s\nconfirmed=%s\nstarts=%s\nlast_start=%s\nprevious=%s\nfailed=%s\n' \
    "$m_target" "$m_confirmed" "$m_starts" "$m_last" "$m_previous" "$m_failed" >"$tmp"
  mv -f "$tmp" "$marker"
}

if [ ! -x "$profile/bin/flotilla-agent" ]; then
  run_fallback "$@"
fi

target="$(readlink -f "$profile")"
now="$(date +%s)"

# Leaves a crash-looping target: back to the last confirmed one, else the fallback.
abandon() {
  local why="$1"
  shift
  m_failed="$target"
  if [ -n "$m_previous" ] && [ -x "$m_previous/bin/flotilla-agent" ]; then
    log "$why; setting $profile back to $m_previous"
    nix-env -p "$profile" --set "$m_previous"
    m_target="$m_previous" m_confirmed=1 m_starts=1 m_last="$now"
    write_marker
    run "$m_previous" "$@"
  fi
  log "$why, and no earlier target was confirmed; running the fallback package"
  write_marker
  run_fallback "$@"
}

if [ -n "$m_failed" ] && [ "$target" = "$m_failed" ]; then
  # The profile points at a target judged broken before (e.g. a self-update
  # re-installed it, or the rollback could not be recorded): do not retry it.
  abandon "profile target $target crash-looped before" "$@"
fi

if [ "$target" != "$m_target" ]; then
  # A new target (first start, or a self-update switched the profile).
  if [ "$m_confirmed" = 1 ] && [ -n "$m_target" ]; then m_previous="$m_target"; fi
  m_target="$target" m_confirmed=0 m_starts=1 m_last="$now"
  write_marker
  run "$target" "$@"
fi

if [ "$m_confirmed" != 1 ] && [ $((now - m_last)) -ge "$stable_secs" ]; then
  log "profile target $target ran for at least ${stable_secs}s; confirming it"
  m_confirmed=1
fi

if [ "$m_confirmed" = 1 ]; then
  m_starts=1 m_last="$now"
  write_marker
  run "$target" "$@"
fi

m_starts=$((m_starts + 1)) m_last="$now"
if [ "$m_starts" -le "$max_starts" ]; then
  write_marker
  run "$target" "$@"
fi

abandon "profile target $target started $max_starts times without staying up ${stable_secs}s" "$@"
