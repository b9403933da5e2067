#!/usr/bin/env bash
# deps.sh COMMAND=PACKAGE...: make sure each COMMAND is on PATH, installing
# its Debian PACKAGE with apt-get when it is missing and this is root on a
# machine with apt-get. Otherwise name what is missing in one line and
# fail. `make test` needs node and python3: they run the examples that the
# exec-mode tests serve with `spread serve -- CMD`.
set -euo pipefail

missing=()
for pair in "$@"; do
  cmd=${pair%%=*} pkg=${pair#*=}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (apt-get)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "deps.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
exit 1
