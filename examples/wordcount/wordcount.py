"""Word count: the bundled example graph.

    texts (file pattern)  ->  count (python processor, one item per file)
      ->  by_letter (partition by attribute: the file name's first letter)
      ->  letter_total (python processor, one item per letter)
      ->  everything (wait for all)  ->  report (python processor: results/report.txt)

Cook it with ``pdg cook examples/wordcount/wordcount.py``, then look around with ``pdg status``,
``pdg items``, ``pdg show report_1`` and ``pdg history`` (from this folder or a parent). Try
``--set min_length=5`` to count only longer words.
"""

import json
import os
import re
from collections import Counter

from pdgstore.engine import Graph

graph = Graph("wordcount")
min_length = graph.parm("min_length", 1, help="ignore words shorter than this many letters")

texts = graph.file_pattern("texts", "texts/*.txt")


@graph.python_processor("count", upstream=texts)
def count(item):
    """Count the words of one text and write them as JSON."""
    source = item.input_path
    words = [w for w in re.findall(r"[a-z']+", source.read_text().lower()) if len(w) >= min_length]
    item.set_attrib("words", len(words))
    item.set_attrib("letter", source.stem[0])
    item.set_attrib("top", [word for word, _ in Counter(words).most_common(3)] or [""])
    out = f"results/counts/{source.stem}.json"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"file": source.name, "words": len(words), "counts": Counter(words)}, f, indent=1, sort_keys=True)
    item.add_output_file(out)


by_letter = graph.partition_by_attribute("by_letter", count, attribute="letter")


@graph.python_processor("letter_total", upstream=by_letter)
def letter_total(item):
    """Add up the counts of every file starting with one letter."""
    total = Counter()
    names = []
    for f in item.input_files:
        data = json.loads(f.path.read_text())
        total.update(data["counts"])
        names.append(data["file"])
    letter = item.attrib_value("letter")
    out = f"results/letters/{letter}.json"
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"letter": letter, "files": sorted(names), "words": sum(total.values()), "counts": total},
                  f, indent=1, sort_keys=True)
    item.set_attrib("letter_words", sum(total.values()))
    item.add_output_file(out)


everything = graph.wait_for_all("everything", letter_total)


@graph.python_processor("report", upstream=everything)
def report(item):
    """Write the report: words per letter and the most common words overall."""
    total = Counter()
    lines = []
    for f in sorted(item.input_files, key=lambda f: f.relpath):
        data = json.loads(f.path.read_text())
        total.update(data["counts"])
        lines.append(f"{data['letter']}: {data['words']:4d} words in {', '.join(data['files'])}")
    lines.append("")
    lines.append(f"{sum(total.values())} words, {len(total)} distinct (min length {min_length})")
    lines.append("most common: " + ", ".join(f"{w} ({n})" for w, n in total.most_common(5)))
    os.makedirs("results", exist_ok=True)
    with open("results/report.txt", "w") as f:
        f.write("\n".join(lines) + "\n")
    item.set_attrib("total_words", sum(total.values()))
    item.add_output_file("results/report.txt")
