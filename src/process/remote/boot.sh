# The remote side of one command on a host (docs/remote.md, "What is sent, and what is
# recorded"). It travels as `exec bash -c '<this text>'` on the remote command line, so:
# comment lines are dropped and newlines become spaces (every command ends with `;`, `&`
# or a keyword after which a newline is a space), and it holds no single quote and no
# backslash. It reads from stdin, NUL separated: NAME=VALUE exports ending with an empty
# record, the grace period in milliseconds, the silence limit in seconds, the working
# directory (empty: the login directory), the shell's words ending with an empty record,
# and the script; then control lines: TERM (stop: SIGTERM, the grace period, SIGKILL),
# KILL (at once) and empty lines (the local side's heartbeat). The end of stdin (the
# connection or the local side is gone) stops the command too, and so does a silence
# longer than the limit (a network that went quiet without closing the connection).
set -u;
e=(); c=();
while IFS= read -r -d "" w && [ -n "$w" ]; do e+=("$w"); done;
IFS= read -r -d "" g || exit 125;
IFS= read -r -d "" h || exit 125;
IFS= read -r -d "" d || exit 125;
while IFS= read -r -d "" w && [ -n "$w" ]; do c+=("$w"); done;
IFS= read -r -d "" s || { echo "runbook: the request was cut short" >&2; exit 125; };
if [ -n "$d" ]; then
  cd -- "$d" || { echo "runbook: the working directory $d does not exist on ${HOSTNAME:-the host}" >&2; exit 1; };
fi;
# a PID: the start time of process PID (field 22 of /proc/PID/stat); empty when gone.
a() {
  local z;
  { read -r z < "/proc/$1/stat"; } 2>/dev/null || return 0;
  z=${z##*) }; set -- $z; echo "${20}";
};
# t PID:START...: every live process of the script's group ($p), or descending from a
# root that is still the process recorded (pid and start time), or from one of those;
# as PID:START.
t() {
  local f z y q= r=" $*"; local -A m=() o=() n=();
  for f in /proc/[0-9]*/stat; do
    { read -r z < "$f"; } 2>/dev/null || continue;
    y=${f#/proc/}; y=${y%/stat}; z=${z##*) }; set -- $z;
    if [ "$1" = Z ] || [ "$1" = X ]; then continue; fi;
    m[$2]+=" $y"; o[$y]=${20};
    if [ "$3" = "$p" ]; then q+=" $y"; fi;
  done;
  for y in $r; do if [ "${o[${y%:*}]-}" = "${y#*:}" ]; then q+=" ${y%:*}"; fi; done;
  while [ -n "$q" ]; do
    set -- $q; q=;
    for y; do
      if [ -z "${n[$y]-}" ] && [ -n "${o[$y]-}" ]; then n[$y]=1; echo "$y:${o[$y]}"; q+="${m[$y]-}"; fi;
    done;
  done;
};
# k SIGNAL: to the script's group, and to each process of K that is still the one
# recorded.
k() {
  local y;
  kill -"$1" -- -"$p" 2>/dev/null;
  for y in $K; do if [ "$(a "${y%:*}")" = "${y#*:}" ]; then kill -"$1" "${y%:*}" 2>/dev/null; fi; done;
};
# u: adds to K every process that now belongs to the step, with the group and every new
# one stopped (SIGSTOP) so that none forks away while the tree is listed, until no new
# one appears; returns false when none of them is left. The caller sends SIGCONT.
u() {
  local i y z l h=;
  kill -STOP -- -"$p" 2>/dev/null;
  for i in 1 2 3 4 5 6 7 8; do
    l=$(t "$P" $K); [ -n "$l" ] && h=1;
    y=;
    for z in $l; do case " $K " in *" $z "*) ;; *) K+=" $z"; y+=" ${z%:*}";; esac; done;
    if [ -z "$y" ]; then break; fi;
    kill -STOP $y 2>/dev/null;
  done;
  [ -n "$h" ];
};
# v: the stop, once: the main shell is told first (USR1) so it does not take the end
# for a normal one; then SIGTERM and SIGCONT to everything of the step.
v() { kill -USR1 $$ 2>/dev/null; u; k TERM; k CONT; };
# j: the grace period (checked every 0.2 s, processes appearing meanwhile get SIGTERM
# too), then SIGKILL to what is left.
j() {
  local i=0 o;
  while [ "$i" -lt "$G" ]; do
    sleep 0.2; i=$((i + 1)); o=$K;
    u || break;
    if [ "$K" != "$o" ]; then k TERM; fi;
    k CONT;
  done;
  u; k KILL;
};
x=; K=; G=$(( (g + 199) / 200 )); trap "x=1" USR1;
set -m;
( set +m +u; exec 3<<<"$s";
  set -- "${#e[@]}" "${e[@]}" "${c[@]}" /dev/fd/3;
  unset e c w g d s x K G;
  while [ "$1" -gt 0 ]; do declare -x "$2" 2>/dev/null; set -- "$(( $1 - 1 ))" "${@:3}"; done;
  shift; exec "$@" </dev/null; ) & p=$!;
P="$p:$(a "$p")";
( trap "" INT HUP;
  while IFS= read -r -t "$h" l; do
    if [ -z "$l" ]; then continue; fi;
    if [ "$l" = KILL ]; then u; k KILL;
    elif [ -z "$K" ]; then v; j & fi;
  done;
  if [ -z "$K" ]; then v; fi;
  j; ) <&0 >/dev/null 2>&1 & w=$!;
set +m;
while :; do { wait "$p"; } 2>/dev/null; r=$?; kill -0 "$p" 2>/dev/null || break; done;
if [ -z "$x" ]; then
  if kill -0 -- -"$p" 2>/dev/null; then
    sleep 1;
    if kill -0 -- -"$p" 2>/dev/null; then
      kill -TERM -- -"$p" 2>/dev/null; kill -CONT -- -"$p" 2>/dev/null;
      for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -"$p" 2>/dev/null || break; sleep 0.2; done;
      kill -KILL -- -"$p" 2>/dev/null;
      echo "runbook: background processes the step left on ${HOSTNAME:-the host} were terminated" >&2;
    fi;
  fi;
  kill -KILL -- -"$w" 2>/dev/null;
fi;
exit "$r";
