# Seed 000 (Job API): the pdgcmd sample. The page imports addOutputFile but then calls
# pdgcmd.setStringAttrib, which raises NameError as printed; the smallest fix is `import pdgcmd`.
import pdgcmd  # the fix
from pdgcmd import addOutputFile

# Send data back to PDG work item via network calls
pdgcmd.setStringAttrib('runtime_attrib', 'test value', 0)
