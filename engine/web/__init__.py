"""The web view of ``pdg serve``: a page (shipped here, in ``static/``) and the JSON answers it asks
for, served on the data layer's WebSocket port next to the live data layer it follows."""
