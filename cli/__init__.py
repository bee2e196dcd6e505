"""cli: the ``pdg`` command. Thin: parse the words, call the engine or a pdgstore query, render."""
