"""A graph as its file builds it: the Graph API, the built-in nodes, attributes, work items, the loader."""
