"""W(N) whose python processor fails on every item: ``wide.py`` with a processor that reads its
input and then raises, as one with a bug (or inputs it cannot parse) does. Each of its N items is
recorded failed with its traceback; nothing downstream cooks. The cold-cook benchmark times it
against ``wide.py``, which succeeds (``test_bench_cold.py``)."""

from pdgstore.engine import Graph

graph = Graph("wide")

files = graph.file_pattern("files", "in/*.txt")


@graph.python_processor("upper", upstream=files)
def upper(item):
    """Read the input, then refuse it."""
    source = item.input_files[0]
    with open(source, "rb") as f:
        text = f.read().decode()
    raise ValueError(f"cannot parse {source.relpath}: {len(text)} characters, no header")


everything = graph.wait_for_all("everything", upper)


@graph.python_processor("concat", upstream=everything)
def concat(item):
    """Never runs: every member of its partition failed."""
