#!/usr/bin/env bash
# Runs scripts/brown_to_text.py on tests/fixtures/brown_mini (three files in the Brown
# corpus's form, 53 tokens) and compares its train/valid/test.txt with the hand-written
# tests/fixtures/brown_mini_expected. The sentences hold tokens 1-8, 9-10, 11-22 | 23-28,
# 29-36 | 37-38, 39-44, 45-49, 50-53; each pair of cuts below must give those three splits:
# cuts in mid-sentence (15, 30), on a sentence's last token (22, 36) and on a sentence's
# first token (11, 29). It runs once more without cats.txt (then the files are sorted).
#   tests/test_brown_to_text.sh [REPOSITORY]    (default: the one holding this script)
set -euo pipefail
root="${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
converter="$root/scripts/brown_to_text.py"
fixture="$root/tests/fixtures/brown_mini"
expected="$root/tests/fixtures/brown_mini_expected"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$fixture" "$work/no_cats" && rm "$work/no_cats/cats.txt"

failed=0
check() {  # check SRC_DIR TRAIN_TOKENS VALID_TOKENS
  rm -rf "$work/out" && mkdir "$work/out"
  /usr/bin/python3 "$converter" "$1" "$work/out" --train-tokens "$2" --valid-tokens "$3" >/dev/null
  for split in train valid test; do
    if ! diff -u "$expected/$split.txt" "$work/out/$split.txt"; then
      echo "FAILED: $split.txt differs ($1, --train-tokens $2 --valid-tokens $3)" >&2
      failed=1
    fi
  done
}
check "$fixture" 15 15
check "$fixture" 22 14
check "$fixture" 11 18
check "$work/no_cats" 15 15

# Too few tokens for the test split: a clear error, nothing written.
rm -rf "$work/out" && mkdir "$work/out"
if /usr/bin/python3 "$converter" "$fixture" "$work/out" --train-tokens 40 --valid-tokens 13 2>/dev/null ||
   [[ -n "$(ls "$work/out")" ]]; then
  echo "FAILED: 53 tokens with cuts at 40 and 53 should be refused" >&2
  failed=1
fi
((failed == 0)) && echo "brown_to_text: all splits as expected"
exit "$failed"
