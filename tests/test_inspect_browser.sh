#!/usr/bin/env bash
# Opens pages of `recur inspect` in a real browser (headless Chromium, --dump-dom gives the
# document after its inline script ran) and checks: one coloured token element per token
# and cell; the script's self-check found every token coloured, every token's predictions
# and a working hover; opened as page.html#t=N the page shows token N's predictions. The
# text holds "</script>", markup characters, quotes and multi-byte characters.
#   tests/test_inspect_browser.sh RECUR [REPOSITORY]   (default: the one holding this script)
# Exits 77, which ctest reports as skipped, when Chromium is not installed
# (scripts/setup --with-browser installs it).
set -euo pipefail
recur="$1"
root="${2:-$(dirname "${BASH_SOURCE[0]}")/..}"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
  echo "SKIPPED: chromium is not installed (scripts/setup --with-browser installs it)"
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=0
fail() { echo "FAILED: $*" >&2; failed=1; }

# The DOM of a page (a file, with an optional #fragment) after its scripts ran.
dump() {
  timeout 120 "$browser" --headless --disable-gpu --no-sandbox --user-data-dir="$work/profile" \
    --virtual-time-budget=5000 --dump-dom "file://$1" 2>>"$work/browser.log"
}
# The value of attribute $2 of the element with id $3 in the DOM $1 (one line per element
# in Chromium's serialisation).
attribute() { grep -o "<[a-z]* id=\"$3\"[^>]*>" "$1" | grep -o " $2=\"[^\"]*\"" | cut -d'"' -f2 || true; }

check_page() {  # NAME MODEL TEXT TOKENS CELLS
  local name="$1" model="$2" text="$3" tokens="$4" cells="$5"
  "$recur" inspect "$model" "$text" --html "$work/$name.html" --cells "$cells" --threads 1 >"$work/$name.cells"
  local shown expected=$((tokens * cells))
  shown=$(wc -l <"$work/$name.cells")
  [[ "$shown" == "$cells" ]] || fail "$name: recur inspect listed $shown cells, not $cells"
  dump "$work/$name.html" >"$work/$name.dom" || { fail "$name: chromium failed: $(tail -3 "$work/browser.log")"; return; }
  local elements
  elements=$(grep -o '<span class="t[ "]' "$work/$name.dom" | wc -l || true)
  [[ "$elements" == "$expected" ]] || fail "$name: $elements token elements in the DOM, expected $expected"
  [[ "$(attribute "$work/$name.dom" data-coloured check)" == "$expected" ]] ||
    fail "$name: the page's check counted $(attribute "$work/$name.dom" data-coloured check) coloured tokens, expected $expected"
  [[ "$(attribute "$work/$name.dom" data-predicted check)" == "$tokens" ]] ||
    fail "$name: the page's check found predictions for $(attribute "$work/$name.dom" data-predicted check) tokens, expected $tokens"
  [[ "$(attribute "$work/$name.dom" data-hover check)" == "ok" ]] || fail "$name: hovering a token showed no predictions"
  # A link to token 2 opens with its tooltip shown: not hidden, holding its predictions.
  dump "$work/$name.html#t=2" >"$work/$name.pinned.dom" || { fail "$name: chromium failed on #t=2"; return; }
  local tip
  tip=$(grep -o '<div id="tip"[^>]*>.*next token:' "$work/$name.pinned.dom" || true)
  [[ -n "$tip" ]] || fail "$name: #t=2 showed no tooltip with the next tokens"
  [[ "$tip" != *" hidden"* ]] || fail "$name: #t=2 left the tooltip hidden"
  echo "$name: $elements token elements ($tokens tokens x $cells cells), hover $(attribute "$work/$name.dom" data-hover check)"
}

# 44 characters: markup, quotes, an end of script element, two lines, é and 唐 (which the
# char model reads as <unk>).
printf '<b>"Tom & Jerry'"'"'s"</b></script>\n\xc3\xa9 \xe5\x94\x90 (x [y])\n' >"$work/chars.txt"
check_page char "$root/tests/fixtures/char_model_recur.safetensors" "$work/chars.txt" 44 3
# 9 tokens: 4 words and <eos>, 3 words and <eos>.
printf 'the cat & <dog>\nsaw "the bird"\n' >"$work/words.txt"
check_page word "$root/tests/fixtures/word_model_torch_linear.safetensors" "$work/words.txt" 9 2

exit "$failed"
