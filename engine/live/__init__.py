"""Long-lived services: ``pdg watch``, scheduled cooks, and the writer lock they take between cooks."""
