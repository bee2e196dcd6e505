"""CI: a normal install puts only our names at the top of site-packages.

pdgstore's folders engine/ and cli/ are installed as pdgstore.engine and pdgstore.cli; PDG's own
module names (pdg, pdgd) are installed when they exist. Anything else at the top (a bare ``engine`` or
``cli``) could overwrite, or be overwritten by, another distribution.
"""

import importlib.metadata
import sys

ALLOWED = {"pdgstore", "pdg", "pdgd"}

files = importlib.metadata.distribution("pdgstore").files or []
tops = {f.parts[0].removesuffix(".py") for f in files if not f.parts[0].endswith((".dist-info", ".pth")) and f.parts[0] != ".."}
tops.discard("__pycache__")
wrong = sorted(tops - ALLOWED)
if wrong:
    sys.exit(f"pip install . put {wrong} at the top of site-packages; only {sorted(ALLOWED)} may be there")
print("installed top-level names:", ", ".join(sorted(tops)))

# the web view ships its page in the package (no build step): pdg serve must find it installed
static = {f.name for f in files if tuple(f.parts[:4]) == ("pdgstore", "engine", "web", "static")}
missing = sorted({"index.html", "app.js", "app.css"} - static)
if missing:
    sys.exit(f"pip install . left out the web view's {missing} (package-data of pdgstore.engine.web)")
print("web view files installed:", ", ".join(sorted(static)))
