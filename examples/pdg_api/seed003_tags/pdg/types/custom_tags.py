# Seed 003 (Custom File Tags and Handlers), "Custom file tags". The page's first line lacks a
# closing quote (".py, ...); the smallest fix closes it: ".py".
def registerTypes(type_registry):
    type_registry.addExtensionTag(".py", "file/text/pythonscript")
    type_registry.addTagViewer("file/bgeo", "gplay")
