#!/usr/bin/env bash
# Runs scripts/brown_to_conll.py on tests/fixtures/brown_mini (three files in the Brown
# corpus's form, 9 sentences) and compares its train/valid/test.conll with the hand-written
# tests/fixtures/brown_mini_conll_expected: sentences 0-7 train, 8 valid, none test. It runs
# again without cats.txt (then the files are sorted, the same order), and once with a tenth
# and eleventh sentence in an added file, which go to test and train, with tags that are
# upper case and carry suffixes inside a `+` compound.
#   tests/test_brown_to_conll.sh [REPOSITORY]    (default: the one holding this script)
set -euo pipefail
root="${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
converter="$root/scripts/brown_to_conll.py"
fixture="$root/tests/fixtures/brown_mini"
expected="$root/tests/fixtures/brown_mini_conll_expected"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$fixture" "$work/no_cats" && rm "$work/no_cats/cats.txt"
cp -r "$fixture" "$work/more"
echo "cr02 humor" >>"$work/more/cats.txt"
printf '\n\n\tHe/PPS-TL+HVZ-HL-NC won/VBD-HL ./.\n\n\n\tYes/uh-nc ./.-hl\n' >"$work/more/cr02"
cp "$expected"/{train,valid,test}.conll "$work/"
printf "He\tpps+hvz\nwon\tvbd\n.\t.\n\n" >"$work/test.conll"
printf "Yes\tuh\n.\t.\n\n" >>"$work/train.conll"

failed=0
check() {  # check SRC_DIR EXPECTED_DIR
  rm -rf "$work/out" && mkdir "$work/out"
  /usr/bin/python3 "$converter" "$1" "$work/out" >/dev/null
  for split in train valid test; do
    if ! diff -u "$2/$split.conll" "$work/out/$split.conll"; then
      echo "FAILED: $split.conll differs ($1)" >&2
      failed=1
    fi
  done
}
check "$fixture" "$expected"
check "$work/no_cats" "$expected"
check "$work/more" "$work"

# A token that is not word/tag: a clear error.
printf 'Bad token/\n' >"$work/more/cr02"
if /usr/bin/python3 "$converter" "$work/more" "$work/out" 2>/dev/null; then
  echo "FAILED: 'token/' should be refused" >&2
  failed=1
fi
((failed == 0)) && echo "brown_to_conll: all splits as expected"
exit "$failed"
