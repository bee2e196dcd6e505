"""``pdgjson.WorkItem``: the job's work item (SideFX's names), read from the JSON the engine wrote.

Part of the job-side modules (import it as ``pdgjson.WorkItem``), standard library only.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys

import pdgcmd
from pdgjson import (
    AttributeOwner,
    CookError,
    File,
    Graph,
    file_of,
    KINDS,
    STATES,
    attribFlag,
    attribType,
    batchActivation,
    getTempDir,
    getWorkItemDataSource,
    getWorkItemJsonPath,
    isIterable,
    localizePath,
    workItemCookType,
    workItemExecutionType,
    workItemState,
    workItemType,
)

_OUTPUTS = "__pdg_outputfiles"


class WorkItem(AttributeOwner):
    """The job's work item: read its attributes and files, set attributes and add outputs (reported
    to the engine at once through ``pdgcmd``)."""

    @classmethod
    def fromJobEnvironment(cls, item_name=None, cb_server=None, expand_strings=False, as_native=False,
                           print_info=True):
        """The item this job cooks: ``$PDG_TEMP/data/$PDG_ITEM_NAME.json`` (or, with
        PDG_ITEM_DATA_SOURCE=1, asked of the result server)."""
        if getWorkItemDataSource() == 1:
            item = cls.fromRPC(pdgcmd.getItemIdFromEnv(), -1, cb_server, expand_strings, as_native)
        else:
            name = os.environ.get("PDG_ITEM_NAME", item_name) or item_name
            if not name or not os.environ.get("PDG_TEMP"):
                raise RuntimeError("pdgjson: PDG_ITEM_NAME and PDG_TEMP must be set: was this job started by PDG?")
            path = getWorkItemJsonPath(name)
            if not os.path.exists(path):
                raise FileNotFoundError(f"pdgjson: work item file {path} does not exist")
            item = cls.fromFile(path, cb_server, expand_strings, as_native)
        if print_info:
            printHoudiniInfo(item)
        return item

    @classmethod
    def fromItemName(cls, item_name, cb_server=None, expand_strings=False, as_native=False):
        return cls.fromFile(getWorkItemJsonPath(item_name), cb_server, expand_strings, as_native)

    @classmethod
    def fromRPC(cls, item_id, batch_index=-1, cb_server=None, expand_strings=False, as_native=False):
        return cls.fromString(pdgcmd.getWorkItemJSON(item_id, batch_index, cb_server), cb_server, expand_strings,
                              as_native)

    @classmethod
    def fromFile(cls, json_path, cb_server=None, expand_strings=False, as_native=False):
        opener = gzip.open if str(json_path).endswith(".gz") else open
        with opener(json_path, "rb") as f:
            return cls.fromString(f.read().decode("utf-8"), cb_server, expand_strings, as_native)

    @classmethod
    def fromString(cls, json_data, cb_server=None, expand_strings=False, as_native=False):
        if as_native:
            raise NotImplementedError("pdgjson: as_native needs Houdini's own pdg module (hython)")
        if not json_data:
            raise ValueError("pdgjson: no work item data (is the result server reachable?)")
        return cls(json.loads(json_data), server=cb_server, expand_strings=expand_strings)

    @classmethod
    def fromBase64String(cls, b64_data, cb_server=None, expand_strings=False, as_native=False):
        return cls.fromString(base64.b64decode(b64_data).decode("utf-8"), cb_server, expand_strings, as_native)

    @classmethod
    def fromServiceData(cls, job_info, cb_server=None, expand_strings=False, as_native=False):
        data = job_info["work_item"]
        if int(job_info.get("version", 0)) == 1:
            return cls.fromString(data, cb_server, expand_strings, as_native)
        try:
            return cls.fromBase64String(data, cb_server, expand_strings, as_native)
        except ValueError:
            return cls.fromString(data, cb_server, expand_strings, as_native)

    def __init__(self, json_obj, batch_parent=None, batch_index=None, version=None, server=None,
                 expand_strings=False):
        super().__init__(expand_strings)
        self._server = server or os.environ.get("PDG_RESULT_SERVER") or None
        self._batchParent = batch_parent
        self._batchIndex = -1 if batch_index is None else batch_index
        self._version = version
        self._tempDir = os.environ.get("PDG_TEMP")
        self._graph = batch_parent.graph if batch_parent else Graph(expand_strings)
        self._stub = not json_obj
        self._subItems = []
        if json_obj:
            self._load(json_obj)

    def _owner_name(self):
        return getattr(self, "_name", "")

    def _load(self, data):
        self._version = self._version or data.get("version", 1)
        self._graph._load_attributes(data.get("graph", {}))
        self._id = data["id"]
        self._name = data["name"]
        self._index = data["index"]
        self._nodeName = data.get("node", "")
        self._priority = data.get("priority", 0)
        self._isStatic = data.get("isStatic", False)
        self._state = workItemState(STATES.get(data.get("state", "cooking"), workItemState.Cooking))
        self._type = workItemType(data.get("type", 0))
        self._cookType = workItemCookType(data.get("cookType", workItemCookType.OutOfProcess))
        self._command = data.get("command", "")
        self._customDataType, self._customData = data.get("customDataType", ""), data.get("customData", "")
        self._load_attributes(data.get("attributes", {}))
        self._inputs = [file_of(f) for f in data.get("inputFiles", [])]
        self._outputs = [file_of(f) for f in data.get("outputFiles", [])]
        self._subItems = [WorkItem(sub, self, i, self._version, self._server, self._expandStrings)
                          for i, sub in enumerate(data.get("subItems", []))]

    # -- identity ------------------------------------------------------------------------------------
    id = property(lambda self: self._id)
    name = property(lambda self: self._name)
    index = property(lambda self: self._index)
    node = property(lambda self: self._nodeName, doc="the node's name (the engine's addition)")
    priority = property(lambda self: self._priority)
    state = property(lambda self: self._state)
    type = property(lambda self: self._type)
    cookType = property(lambda self: self._cookType)
    executionType = property(lambda self: workItemExecutionType.Regular)
    isStatic = property(lambda self: self._isStatic)
    graph = property(lambda self: self._graph)
    tempDir = property(lambda self: self._tempDir)
    customDataType = property(lambda self: self._customDataType)
    customData = property(lambda self: self._customData)
    command = property(lambda self: self._command)
    batchParent = property(lambda self: self._batchParent)
    batchIndex = property(lambda self: self._batchIndex)
    batchItems = subItems = property(lambda self: self._subItems)
    batchSize = property(lambda self: len(self._subItems))
    offset = batchStart = property(lambda self: 0)
    activationMode = property(lambda self: batchActivation.First if self.isBatch else None)
    isBatch = property(lambda self: self._type == workItemType.Batch)
    isInProcess = property(lambda self: self._cookType == workItemCookType.InProcess)
    isOutOfProcess = property(lambda self: self._cookType == workItemCookType.OutOfProcess)
    isServiceMode = property(lambda self: self._cookType == workItemCookType.Service)
    shouldReportChanges = property(lambda self: not self.isServiceMode)
    isCooked = property(lambda self: self._state >= workItemState.CookedSuccess)
    isSuccessful = property(lambda self: self._state in (workItemState.CookedSuccess, workItemState.CookedCache))
    isUnsuccessful = property(lambda self: self._state in (workItemState.CookedFail, workItemState.CookedCancel))

    @property
    def reportId(self):
        return self._batchParent.id if self._batchParent else self._id

    reportName = property(lambda self: self._batchParent.name if self._batchParent else self._name)

    @property
    def frame(self):
        value = self.attribValue("frame")
        return float(value) if isinstance(value, (int, float)) else 0.0

    hasFrame = property(lambda self: self.hasAttrib("frame"))
    frameStep = property(lambda self: 1.0)
    label = property(lambda self: self.stringAttribValue("__pdg_label") or self._name)
    customState = property(lambda self: self.stringAttribValue("__pdg_state") or "")

    @property
    def cookPercent(self):
        value = self.attribValue("__pdg_cookpercent")
        return float(value) if isinstance(value, (int, float)) else -1.0

    @property
    def environment(self):
        return {n: a.value(0) for n, a in self._attributes.items() if a.hasFlag(attribFlag.EnvExport) and len(a)}

    def __repr__(self):
        return f"<WorkItem {self._name} ({self._id})>"

    # -- attributes (a batch sub item sees its parent's too) -------------------------------------------
    def __getitem__(self, key):
        if key not in self._attributes and self._batchParent:
            return self._batchParent[key]
        return self._attributes[key]

    def hasAttrib(self, key):
        return key in self._attributes or bool(self._batchParent and self._batchParent.hasAttrib(key))

    def attrib(self, key, attrib_type=attribType.Undefined, initialized=True):
        found = super().attrib(key, attrib_type, initialized)
        if found is None and self._batchParent:
            return self._batchParent.attrib(key, attrib_type)
        return found

    def attribNames(self, attrib_type=attribType.Undefined):
        names = set(super().attribNames(attrib_type))
        if self._batchParent:
            names.update(self._batchParent.attribNames(attrib_type))
        return sorted(names)

    def _report(self, attrib):
        if not self.shouldReportChanges or attrib.builtin:
            return
        values = attrib._data
        if attrib.type == attribType.File:
            values = [[f.path, f.tag] for f in values]
        pdgcmd.send_attrib(attrib.name, KINDS[attrib.type], list(values), self.reportId, self._batchIndex,
                           self._server)

    # -- files ---------------------------------------------------------------------------------------
    @property
    def inputFiles(self):
        return list(self._inputs)

    inputResultData = inputFiles

    @property
    def outputFiles(self):
        return list(self._outputs)

    def inputFilesForTag(self, tag):
        return [f for f in self._inputs if f.tag.startswith(tag)]

    def inputResultDataForTag(self, tag):
        return self.inputFilesForTag(tag)

    def addOutputFile(self, path, tag="", hash_code=0, own=False):
        """Add an output file (relative paths are the job's working directory's) and report it."""
        path = os.path.abspath(localizePath(os.fspath(getattr(path, "path", path))))
        self._outputs.append(File(path, tag or "file", hash_code, own))
        if self.shouldReportChanges:
            pdgcmd.addOutputFile(path, self.reportId, self._server, tag or "", self._batchIndex, hash_code=hash_code)

    def addOutputFiles(self, paths, tag="", hash_codes=(), own=False):
        if not paths:
            return
        paths = [os.path.abspath(localizePath(os.fspath(getattr(p, "path", p)))) for p in paths]
        tags = [tag] * len(paths) if not isIterable(tag) else list(tag) + [""] * (len(paths) - len(tag))
        hashes = list(hash_codes or ()) + [0] * (len(paths) - len(hash_codes or ()))
        self._outputs.extend(File(p, t or "file", h, own) for p, t, h in zip(paths, tags, hashes))
        if self.shouldReportChanges:
            pdgcmd.addOutputFiles(paths, self.reportId, self._server, tags, self._batchIndex, hash_codes=hashes)

    def addResultData(self, path, tag="", hash_code=0, own=False):
        self.addOutputFile(path, tag, hash_code, own)

    def localizePath(self, path):
        return localizePath(path)

    # -- state and messages --------------------------------------------------------------------------
    def setJobState(self, state):
        if state == workItemState.Cooking:
            pdgcmd.workItemStartCook(self.reportId, self._batchIndex, self._server)
        elif state == workItemState.CookedSuccess:
            pdgcmd.workItemSuccess(self.reportId, self._batchIndex, self._server)
        elif state == workItemState.CookedFail:
            if self._batchIndex > -1:
                raise TypeError("Failing batch item not supported")
            pdgcmd.workItemFailed(self.reportId, self._server)
        else:
            raise TypeError(f"Job can not be set to {state} state")
        self._state = workItemState(state)

    def setCustomState(self, custom_state):
        if self.shouldReportChanges:
            pdgcmd.workItemSetCustomState(custom_state, self.reportId, self._batchIndex, self._server)

    def setCookPercent(self, cook_percent):
        if self.shouldReportChanges:
            pdgcmd.workItemSetCookPercent(cook_percent, self.reportId, self._batchIndex, self._server)

    def invalidateCache(self):
        if self.shouldReportChanges:
            pdgcmd.invalidateCache(self.reportId, self._batchIndex, self._server)

    def cookWarning(self, message):
        pdgcmd.warning(message, self.reportId, self._server)

    def addMessage(self, message, verbosity=pdgcmd.LogDefault, timestamp=True):
        pdgcmd.printlog(message, verbosity=verbosity, timestamp=timestamp)

    def addWarning(self, message, verbosity=pdgcmd.LogDefault, timestamp=True):
        pdgcmd.printlog(message, verbosity=verbosity, prefix="WARNING", timestamp=timestamp)

    def addError(self, message, fail_task=False, timestamp=True):
        pdgcmd.printlog(message, prefix="ERROR", timestamp=timestamp)
        if fail_task:
            if self.isServiceMode:
                raise CookError(message)
            pdgcmd.last_words(self.reportId, message, self._batchIndex, self._server)  # the item's error says it
            sys.exit(-1)

    # -- batches -------------------------------------------------------------------------------------
    def appendSubItem(self):
        if not self.isBatch:
            raise TypeError("Work item is not a batch")
        index = pdgcmd.appendSubItem(self.reportId)
        text = pdgcmd.getWorkItemJSON(self.reportId, index)
        if not text:
            return None
        sub = WorkItem(json.loads(text), self, index, self._version, self._server, self._expandStrings)
        self._subItems.append(sub)
        return sub

    def startSubItem(self, wait=False):
        if not self._batchParent:
            raise TypeError("Work item has no batch parent")
        if wait:
            pdgcmd.waitUntilReady(self.reportId, self._batchIndex)
        self.setJobState(workItemState.Cooking)

    def checkSubItem(self):
        if not self._batchParent:
            raise TypeError("Work item has no batch parent")
        return pdgcmd.checkReady(self.reportId, self._batchIndex)

    def cookSubItem(self, state=workItemState.CookedSuccess, duration=0):
        if not self._batchParent:
            raise TypeError("Work item has no batch parent")
        self.setJobState(state)

    # -- services --------------------------------------------------------------------------------------
    @classmethod
    def serviceFailure(cls, msg=""):
        from pdgjson import getMemoryUsage

        return {"status": "failed", "msg": msg, "version": 1, "memory": getMemoryUsage()}

    def serviceResponse(self, status, msg=""):
        if not self.isServiceMode:
            return {}
        response = self.serviceFailure(msg)
        response["status"] = status
        if status == "success":
            response["outputs"] = [{"file": f.path, "tag": f.tag} for f in self._outputs]
            response["attributes"] = {n: a.asJSONValue() for n, a in self._attributes.items() if a.changed}
        return response

    def applyEnvironment(self):
        applyEnvironment(self)

    # -- the engine's addition ---------------------------------------------------------------------
    @staticmethod
    def batch():
        """``with work_item.batch():`` sends the reports made inside in one round trip (pdgcmd.batch)."""
        return pdgcmd.batch()


# -- module helpers of SideFX's pdgjson ------------------------------------------------------------------
def _data(item, field, index, kind, words):
    if item is None:
        raise TypeError("item is None")
    value = item._value(field, index, kind)
    if value is None and kind == attribType.String:
        found = item.fileAttribValue(field, index)
        if found is not None:
            return found.local_path
    if value is None:
        if item.attrib(field, kind) is None:
            raise ValueError(f"{words} data '{field}' not found on {item.name}")
        raise IndexError(f"Invalid index {index} for {words.lower()} data '{field}'")
    return value


def _array(item, field, kind, words):
    if item is None:
        raise TypeError("item is None")
    values = item._values(field, kind)
    if values is None and kind == attribType.String and item.fileAttribArray(field) is not None:
        return [f.path for f in item.fileAttribArray(field)]
    if values is None:
        raise ValueError(f"{words} data '{field}' not found on {item.name}")
    return values


def strData(item, field, index=0):
    return _data(item, field, index, attribType.String, "String")


def strDataArray(item, field):
    return _array(item, field, attribType.String, "String")


def hasStrData(item, field, index=0):
    if item is None:
        raise TypeError("item is None")
    return item.stringAttribValue(field, index) is not None


def intData(item, field, index=0):
    return _data(item, field, index, attribType.Int, "Int")


def intDataArray(item, field):
    return _array(item, field, attribType.Int, "Int")


def hasIntData(item, field, index=0):
    if item is None:
        raise TypeError("item is None")
    return item.intAttribValue(field, index) is not None


def floatData(item, field, index=0):
    return _data(item, field, index, attribType.Float, "Float")


def floatDataArray(item, field):
    return _array(item, field, attribType.Float, "Float")


def hasFloatData(item, field, index=0):
    if item is None:
        raise TypeError("item is None")
    return item.floatAttribValue(field, index) is not None


def applyEnvironment(work_item):
    """The item's environment attributes (flag EnvExport) into this process's environment."""
    for key, value in work_item.environment.items():
        os.environ[key] = str(value)


def applyWedges(work_item, verbose=True):
    """Wedges set Houdini parameters: there is no Houdini session here."""
    work_item.addError("Unable to apply wedges in non-Houdini Python session")


def printHoudiniInfo(work_item=None):
    msg = f"Running '{sys.executable}' with PID {os.getpid()}"
    if work_item is not None:
        work_item.addMessage(msg, verbosity=pdgcmd.LogVerbose)
    else:
        pdgcmd.printlog(msg, verbosity=pdgcmd.LogVerbose)


__all__ = ["File", "WorkItem", "getTempDir"]
