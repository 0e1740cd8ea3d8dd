#!/usr/bin/python3
"""A baseline for spam classification (issue 13): multinomial naive Bayes on the lowercased
words of the data of `scripts/get-data spam`: split at whitespace, or with
--split-punctuation also where punctuation meets letters or digits, as the classifier's
default reads them (re.findall(r"\w+|[^\w\s]+"), recur's --split-punctuation).

  bench/spam_naive_bayes.py TRAIN VALID TEST [--split-punctuation]   (data/spam/{train,valid,test}.tsv)

Each file holds one `LABEL<TAB>TEXT` a line. The model is fitted on TRAIN alone: class
priors from the label counts, word likelihoods (n(word, label) + alpha) / (n(label) +
alpha * |V|) with V the training vocabulary; test tokens outside V are ignored. alpha is
the one of 0.01, 0.1 and 1 with the best accuracy on VALID (the first of them on a tie).
Prints JSON: the accuracy on VALID for every alpha, the alpha chosen, and on TEST the
accuracy, the macro-F1 and each label's precision, recall, F1 and count.
"""
import argparse
import collections
import json
import math
import re

ALPHAS = (0.01, 0.1, 1.0)


def read_tsv(path, split_punctuation):
    """[(label, [token, ...])] of a LABEL<TAB>TEXT file, the text lowercased and split."""
    split = (lambda text: re.findall(r"\w+|[^\w\s]+", text)) if split_punctuation else str.split
    with open(path, encoding="utf-8") as f:
        return [(label, split(text.lower()))
                for label, text in (line.rstrip("\n").split("\t", 1) for line in f)]


class NaiveBayes:
    def __init__(self, examples):
        self.docs = collections.Counter(label for label, _ in examples)
        self.words = {label: collections.Counter() for label in self.docs}
        for label, tokens in examples:
            self.words[label].update(tokens)
        self.tokens = {label: sum(words.values()) for label, words in self.words.items()}
        self.vocabulary = set().union(*self.words.values())

    def predict(self, tokens, alpha):
        """The label of the highest log posterior (the first label in sorted order on a tie)."""
        counts = collections.Counter(t for t in tokens if t in self.vocabulary)
        best = None
        for label in sorted(self.docs):
            words = self.words[label]
            denominator = math.log(self.tokens[label] + alpha * len(self.vocabulary))
            score = math.log(self.docs[label] / sum(self.docs.values())) + sum(
                n * (math.log(words[t] + alpha) - denominator) for t, n in counts.items())
            if best is None or score > best[0]:
                best = (score, label)
        return best[1]


def evaluate(gold, predicted):
    """Accuracy, macro-F1 and per-label precision, recall, F1 and count."""
    labels = sorted(set(gold) | set(predicted))
    per_label = {}
    for label in labels:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        n_predicted = sum(p == label for p in predicted)
        n_gold = sum(g == label for g in gold)
        precision = tp / n_predicted if n_predicted else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1,
                            "count": n_gold}
    return {"accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
            "macro_f1": sum(m["f1"] for m in per_label.values()) / len(labels),
            "per_label": per_label}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train")
    parser.add_argument("valid")
    parser.add_argument("test")
    parser.add_argument("--split-punctuation", action="store_true",
                        help="split words at punctuation too, as recur's classifier does by default")
    args = parser.parse_args()
    train, valid, test = (read_tsv(p, args.split_punctuation) for p in (args.train, args.valid, args.test))
    model = NaiveBayes(train)
    valid_accuracy = {}
    for alpha in ALPHAS:
        predicted = [model.predict(tokens, alpha) for _, tokens in valid]
        valid_accuracy[alpha] = evaluate([label for label, _ in valid], predicted)["accuracy"]
    alpha = max(ALPHAS, key=valid_accuracy.get)  # the first best
    predicted = [model.predict(tokens, alpha) for _, tokens in test]
    print(json.dumps({
        "model": "multinomial naive Bayes, lowercased words split at whitespace"
                 + (" and punctuation" if args.split_punctuation else ""),
        "train_examples": len(train), "vocabulary": len(model.vocabulary),
        "valid_accuracy": {str(a): valid_accuracy[a] for a in ALPHAS},
        "alpha": alpha,
        "test": evaluate([label for label, _ in test], predicted),
    }, indent=2))


if __name__ == "__main__":
    main()
