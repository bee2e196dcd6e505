# A job of the seed 002 examples: it reads its item and reports back through the result server
# the custom scheduler passed on (workItemResultServerAddr).
import os
import time

import pdgcmd
from pdgjson import WorkItem

work_item = WorkItem.fromJobEnvironment()
if work_item.attribValue("sleep"):
    time.sleep(work_item.attribValue("sleep"))
work_item.setIntAttrib("pid", os.getpid())
work_item.setStringAttrib("server", os.environ["PDG_RESULT_SERVER"])
pdgcmd.workItemSetCookPercent(100.0)
