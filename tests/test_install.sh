#!/usr/bin/env bash
# Installs recur from a build tree into a temporary prefix, then configures, builds and
# runs tests/install (a consumer that does find_package(recur)) against that prefix.
#   usage: test_install.sh <source dir> <build dir>
set -euo pipefail
if (($# != 2)); then
  echo "usage: $0 <source dir> <build dir>" >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)

# Use the build's own cmake and compiler.
cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt"; }
cmake=$(cache_value CMAKE_COMMAND)
cxx=$(cache_value CMAKE_CXX_COMPILER)
: "${cmake:=cmake}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/log"
run() {
  if ! "$@" >>"$log" 2>&1; then
    cat "$log"
    echo "FAILED: $*"
    exit 1
  fi
}

run "$cmake" --install "$build_dir" --prefix "$work/prefix"
if grep -rlF --include="*.cmake" --include="*.hpp" -e "$source_dir" -e "$build_dir" "$work/prefix" >>"$log"; then
  cat "$log"
  echo "FAILED: the installed files above refer to the source or build tree"
  exit 1
fi
run "$cmake" -S "$source_dir/tests/install" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" ${cxx:+-DCMAKE_CXX_COMPILER="$cxx"}
run "$cmake" --build "$work/build"

output=$("$work/build/recur_consumer" 2>&1) || status=$?
echo "$output"
if [[ ${status:-0} -ne 0 || "$output" != *"recur consumer ok"* ]]; then
  echo "FAILED: the consumer built against the installed recur did not run correctly"
  exit 1
fi
