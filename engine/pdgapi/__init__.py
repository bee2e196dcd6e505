"""PDG's own Python names over the engine's objects: what ``import pdg`` gives (see ``pdg/``)."""
