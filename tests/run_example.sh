#!/usr/bin/env bash
# Runs an example with quick settings, in a temporary directory (examples write charts and
# CSVs to the working directory), and checks that it succeeds and that its last line of
# output is its JSON summary.
#   tests/run_example.sh EXECUTABLE [ARGS...]
set -euo pipefail
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
