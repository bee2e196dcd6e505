"""W(N) with every processor dynamic (Generate When: each upstream item cooked), the baseline of
issue 19's static cook benchmark; otherwise wide.py (copy it into any folder).

    files (file pattern over in/*.txt: one work item per file; N = how many files are in in/)
      ->  upper (python processor: out1/<same name> = the file's text upper-cased)
      ->  everything (wait for all)
      ->  concat (python processor: every stage-1 output, in name order, into out2/all.txt)

The benchmarks fill ``in/`` with N small files (``benchmarks/workload.py``) and run
``pdg cook wide.py`` in that folder; ``benchmarks/plain.py`` does the same work in a plain loop.
"""

import os

from pdgstore.engine import Graph

graph = Graph("wide")

files = graph.file_pattern("files", "in/*.txt")


def write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``, making its folder the first time it is missing."""
    try:
        f = open(path, "wb")
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        f = open(path, "wb")
    with f:
        f.write(data)


@graph.python_processor("upper", upstream=files, generate_when="dynamic")
def upper(item):
    """out1/<name> = the input's text upper-cased."""
    source = item.input_files[0]
    with open(source, "rb") as f:
        text = f.read().decode()
    out = "out1/" + os.path.basename(source.relpath)
    write(out, text.upper().encode())
    item.add_output_file(out)


everything = graph.wait_for_all("everything", upper)


@graph.python_processor("concat", upstream=everything, generate_when="dynamic")
def concat(item):
    """out2/all.txt = every stage-1 output, in name order."""
    parts = []
    for source in sorted(item.input_files, key=lambda f: f.relpath):
        with open(source, "rb") as f:
            parts.append(f.read())
    write("out2/all.txt", b"".join(parts))
    item.add_output_file("out2/all.txt")
