#!/usr/bin/env bash
# Runs an example with quick settings, in a temporary directory (examples write charts and
# CSVs to the working directory), and checks that it succeeds, that its last line of output
# is its JSON summary, and that the summary reports what a correct implementation reaches
# with these settings:
#   tests/run_example.sh [--at-least KEY VALUE | --at-most KEY VALUE]... EXECUTABLE [ARGS...]
# KEY names a number at the top level of the summary, e.g. --at-least test_accuracy 0.7.
set -euo pipefail
checks=()
while [[ $# -gt 0 && ( "$1" == --at-least || "$1" == --at-most ) ]]; do
  [[ $# -ge 3 ]] || { echo "run_example.sh: $1 needs a KEY and a VALUE" >&2; exit 2; }
  checks+=("$1" "$2" "$3")
  shift 3
done
executable="$1"
shift
name="$(basename "$executable")"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"
output="$("$executable" "$@")"
last="$(printf '%s\n' "$output" | tail -n 1)"
if [[ "$last" != "{"*"}" ]] || ! grep -Eq "\"example\": ?\"$name\"" <<<"$last"; then
  echo "$name: the last line is not its JSON summary: $last" >&2
  exit 1
fi
echo "$last"

number='-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?'
failed=0
for ((i = 0; i < ${#checks[@]}; i += 3)); do
  bound="${checks[i]}" key="${checks[i + 1]}" limit="${checks[i + 2]}"
  value="$(grep -oE "\"$key\": ?$number" <<<"$last" | head -n 1 | sed -E 's/^[^:]*: ?//')"
  if [[ -z "$value" ]]; then
    echo "$name: the summary has no number \"$key\"" >&2
    failed=1
    continue
  fi
  if [[ "$bound" == --at-least ]]; then
    ok="$(awk -v v="$value" -v l="$limit" 'BEGIN { print (v + 0 >= l + 0) ? 1 : 0 }')"
    relation=">="
  else
    ok="$(awk -v v="$value" -v l="$limit" 'BEGIN { print (v + 0 <= l + 0) ? 1 : 0 }')"
    relation="<="
  fi
  if [[ "$ok" == 1 ]]; then
    echo "$name: $key = $value ($relation $limit)"
  else
    echo "$name: $key = $value, expected $relation $limit" >&2
    failed=1
  fi
done
exit "$failed"
