#!/usr/bin/python3
"""A baseline for part-of-speech tagging (issue 13): each word gets the tag it has most often
in the training data, a word never seen there the tag most frequent overall.

  bench/pos_most_frequent_tag.py TRAIN TEST     (data/brown-pos/{train,test}.conll)

Each file holds one `word<TAB>tag` a line, a blank line after each sentence (the data of
`scripts/get-data brown-pos`). Words are compared exactly, case included; of tags equally
frequent for a word, the one seen first in TRAIN wins. Prints JSON: the token accuracy on
TEST, the accuracy on the TEST tokens whose word TRAIN lacks, and the counts.
"""
import argparse
import collections
import json


def read_tokens(path):
    """[(word, tag)] of every token of a word<TAB>tag file, sentence breaks skipped."""
    with open(path, encoding="utf-8") as f:
        return [tuple(line.rstrip("\n").split("\t")) for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train")
    parser.add_argument("test")
    args = parser.parse_args()
    train, test = read_tokens(args.train), read_tokens(args.test)
    tags_of = collections.defaultdict(collections.Counter)
    for word, tag in train:
        tags_of[word][tag] += 1
    best = {word: tags.most_common(1)[0][0] for word, tags in tags_of.items()}
    fallback = collections.Counter(tag for _, tag in train).most_common(1)[0][0]
    correct = unseen = unseen_correct = 0
    for word, tag in test:
        predicted = best.get(word, fallback)
        correct += predicted == tag
        if word not in best:
            unseen += 1
            unseen_correct += predicted == tag
    print(json.dumps({
        "model": "most frequent training tag per word, unseen words the most frequent tag",
        "train_tokens": len(train), "train_words": len(best),
        "train_tags": len({tag for _, tag in train}), "unseen_tag": fallback,
        "test_tokens": len(test), "accuracy": correct / len(test),
        "unseen_tokens": unseen, "unseen_accuracy": unseen_correct / unseen if unseen else None,
    }, indent=2))


if __name__ == "__main__":
    main()
