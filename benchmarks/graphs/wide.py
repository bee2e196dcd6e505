"""W(N): the wide benchmark workload of issues 3 and 4, self-contained (copy it into any folder).

    files (file pattern over in/*.txt: one work item per file; N = how many files are in in/)
      ->  upper (python processor: out1/<same name> = the file's text upper-cased)
      ->  everything (wait for all)
      ->  concat (python processor: every stage-1 output, in name order, into out2/all.txt)

The benchmarks fill ``in/`` with N small files (``benchmarks/workload.py``) and run
``pdg cook wide.py`` in that folder; ``benchmarks/plain.py`` does the same work in a plain loop.
"""

import os

from engine import Graph

graph = Graph("wide")

files = graph.file_pattern("files", "in/*.txt")


@graph.python_processor("upper", upstream=files)
def upper(item):
    """out1/<name> = the input's text upper-cased."""
    source = item.input_path
    out = f"out1/{source.name}"
    os.makedirs("out1", exist_ok=True)
    with open(out, "w") as f:
        f.write(source.read_text().upper())
    item.add_output_file(out)


everything = graph.wait_for_all("everything", upper)


@graph.python_processor("concat", upstream=everything)
def concat(item):
    """out2/all.txt = every stage-1 output, in name order."""
    os.makedirs("out2", exist_ok=True)
    with open("out2/all.txt", "w") as out:
        for f in sorted(item.input_files, key=lambda f: f.relpath):
            out.write(f.path.read_text())
    item.add_output_file("out2/all.txt")
