#!/usr/bin/env bash
# Runs scripts/spam_to_tsv.py on tests/fixtures/spam_mini (22 tiny emails in the form of
# the SpamAssassin package, see its README) and checks: the 20 lines kept are those of the
# hand-written tests/fixtures/spam_mini_expected.tsv (the empty email and the copy dropped,
# MIME decoded, whitespace and control characters made single spaces); every line is
# LABEL<TAB>TEXT with no tab, CR, doubled or end space in TEXT; the files are valid UTF-8;
# the split is 8/1/1 per label; a second run writes the same files; a corpus that lacks a
# group is refused.
#   tests/test_spam_to_tsv.sh [REPOSITORY]    (default: the one holding this script)
set -euo pipefail
root="${1:-$(dirname "${BASH_SOURCE[0]}")/..}"
converter="$root/scripts/spam_to_tsv.py"
fixture="$root/tests/fixtures/spam_mini"
expected="$root/tests/fixtures/spam_mini_expected.tsv"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/out" "$work/again"
/usr/bin/python3 "$converter" "$fixture" "$work/out" >"$work/stdout"
/usr/bin/python3 "$converter" "$fixture" "$work/again" >/dev/null

failed=0
fail() { echo "FAILED: $*" >&2; failed=1; }

grep -q "dropped: 1 empty, 1 duplicate" "$work/stdout" ||
  fail "expected 1 empty and 1 duplicate email dropped"
cat "$work"/out/{train,valid,test}.tsv | LC_ALL=C sort >"$work/all.tsv"
LC_ALL=C sort "$expected" | diff -u - "$work/all.tsv" || fail "the lines differ from $expected"
for split in train valid test; do
  file="$work/out/$split.tsv"
  cmp -s "$file" "$work/again/$split.tsv" || fail "$split.tsv differs between two runs"
  /usr/bin/python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$file" ||
    fail "$split.tsv is not valid UTF-8"
  if LC_ALL=C grep -vqP '^(ham|spam)\t[^\t\r ]+( [^\t\r ]+)*$' "$file"; then
    fail "$split.tsv has a line that is not LABEL<TAB>TEXT with single spaces"
  fi
  case $split in train) want=8 ;; *) want=1 ;; esac
  for label in ham spam; do
    got=$(grep -c "^$label"$'\t' "$file" || true)
    ((got == want)) || fail "$split.tsv has $got $label lines, expected $want"
  done
done

# A corpus without one of the five groups: a clear error.
cp -r "$fixture" "$work/partial" && rm -r "$work/partial/data/hard-ham-1"
if /usr/bin/python3 "$converter" "$work/partial" "$work/out" 2>/dev/null; then
  fail "a corpus without hard-ham-1 should be refused"
fi
((failed == 0)) && echo "spam_to_tsv: all checks passed"
exit "$failed"
