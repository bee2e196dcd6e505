# Seed 002 (Scheduler Node Callbacks): a scheduler written with PDG's callbacks, each as the page
# describes it. It runs each work item's command as a subprocess, polls them in onTick and reports
# back with onWorkItemSucceeded / onWorkItemFailed; it records every callback it receives in
# `self.calls` so the conformance tests can see them.
import os
import shlex
import subprocess
import sys

import pdg


class CustomScheduler(pdg.Scheduler):
    def __init__(self, scheduler, name, **parms):
        pdg.Scheduler.__init__(self, scheduler, name, **parms)
        self.calls = []
        self.running = {}  # work item id -> Popen
        self.cancel_next_tick = False
        self.options = None

    def applicationBin(self, name, work_item):
        self.calls.append(("applicationBin", name))
        if name in ("python", "hython"):
            return sys.executable
        return pdg.Scheduler.applicationBin(self, name, work_item)

    def onSchedule(self, work_item):
        self.calls.append(("onSchedule", work_item.name))
        if len(self.running) >= 4:
            return pdg.scheduleResult.FullDeferred
        # work_item.command is PDG's string (quoted as a shell reads it): split it back into words
        # (or run it with shell=True, though killing that shell would leave its child running)
        command = shlex.split(self.expandCommandTokens(work_item.command, work_item))
        self.createJobDirsAndSerializeWorkItems(work_item)
        job_env = self.job_environment(work_item)
        job_env["PDG_RESULT_SERVER"] = str(self.workItemResultServerAddr())
        work_item.setStringAttrib("scheduled_by", self.name)
        self.running[work_item.id] = (work_item, subprocess.Popen(command, env=job_env, cwd=self.workingDir(True)))
        self.onWorkItemStartCook(work_item.id, -1)
        return pdg.scheduleResult.Succeeded

    def onTick(self):
        self.calls.append(("onTick",))
        if self.cancel_next_tick:
            self.cancel_reason = "the farm went away"
            return pdg.tickResult.SchedulerCancelCook
        for item_id, (work_item, proc) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            del self.running[item_id]
            if code == 0:
                self.onWorkItemSucceeded(item_id, -1, 0.0)
            else:
                self.onWorkItemFailed(item_id, -1)
        return pdg.tickResult.SchedulerReady if len(self.running) < 4 else pdg.tickResult.SchedulerBusy

    def onAcceptWorkItem(self, work_item):
        self.calls.append(("onAcceptWorkItem", work_item.name, work_item.isInProcess))
        if work_item.attribValue("reject") == 1:
            return pdg.acceptResult.Reject
        return pdg.acceptResult.Default

    def onConfigureCook(self, cook_options):
        self.calls.append(("onConfigureCook", dict(cook_options)))
        self.options = cook_options

    def onStartCook(self, static, cook_set):
        self.calls.append(("onStartCook", static, sorted(cook_set)))
        self.setWorkingDir(self.graph_dir, "/farm/project")
        return True

    def onStopCook(self, cancel):
        self.calls.append(("onStopCook", cancel))
        for work_item, proc in self.running.values():
            proc.kill()
            proc.wait()
        self.running.clear()
        return True

    def onStart(self):
        self.calls.append(("onStart",))

    def onStop(self):
        self.calls.append(("onStop",))

    def onCancelWorkItems(self, work_items, node):
        self.calls.append(("onCancelWorkItems", sorted(w.name for w in work_items), node.name if node else None))
        for work_item in work_items:
            entry = self.running.pop(work_item.id, None)
            if entry is not None:
                entry[1].kill()
                entry[1].wait()
            self.onWorkItemCanceled(work_item.id, -1)

    def getStatusURI(self, work_item):
        return "http://farm.example/status/" + work_item.name

    def getLogURI(self, work_item):
        return "file:///farm/logs/" + work_item.name + ".log"


def registerTypes(type_registry):
    type_registry.registerScheduler(CustomScheduler, label="Custom Scheduler")
