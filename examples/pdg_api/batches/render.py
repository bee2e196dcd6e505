"""A batch job written with PDG's Job API: one process cooks every sub-item of its batch."""

import os

import pdgcmd
from pdgjson import WorkItem

# the batch work item: one job cooks all its sub-items (PDG's batches)
batch = WorkItem.fromJobEnvironment()
assert batch.isBatch and batch.batchSize == len(batch.batchItems) > 0
os.makedirs("out", exist_ok=True)


def cook(sub):
    assert sub.batchParent is batch and sub.batchIndex >= 0 and not sub.isBatch
    sub.startSubItem(wait=True)  # waitUntilReady, then the sub-item starts cooking
    assert sub.checkSubItem()  # checkReady: its dependencies have cooked
    value = sub.attribValue('value')
    path = os.path.abspath('out/frame%d.txt' % value)
    with open(path, 'w') as f:
        f.write(str(value))
    sub.addOutputFile(path, 'file/text')
    sub.setIntAttrib('squared', value * value)
    sub.setCookPercent(100)
    sub.cookSubItem()  # this sub-item succeeded: its dependents may cook now


pdgcmd.workItemSetCustomState('rendering', batch.id)  # about the batch: every sub-item still cooking
for sub in batch.batchItems:
    cook(sub)
if batch.attribValue('value') == 0:
    extra = batch.appendSubItem()  # one more sub-item at the end of this running batch
    assert extra.batchIndex == batch.batchSize - 1 and extra.batchParent is batch
    cook(extra)
