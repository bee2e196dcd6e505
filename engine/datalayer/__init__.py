"""The PDG data layer (seed 001), served from the store: ``core`` (objects, subscribers, the store
follower), ``storeview`` and ``storeobjects`` (the store's graphs, nodes and work items),
``handlers`` (users' handlers), ``queries``, ``sessions``/``server``/``client`` (WebSocket and TCP).
PDG users import it by PDG's name, ``pdgd`` (the package at the repository's root)."""
