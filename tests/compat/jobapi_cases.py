"""One job script per function of SideFX's pdgcmd and pdgjson, and what the engine must record.

``CASES[name] = (script, check)``: ``script`` is the body of a job (``pdgcmd``, ``pdgjson``, ``os``,
``item`` = ``pdgjson.WorkItem.fromJobEnvironment()``, ``iid`` = ``pdgcmd.getItemIdFromEnv()`` and
``ok()`` (sets the attribute ``ok`` to 1) are there); ``check(rec)`` asserts on what the cook
recorded for that job's item (``rec.attrs``, ``rec.outputs``, ``rec.logs``, ``rec.state``,
``rec.error``, ``rec.log``: the job's stdout). The test module runs them all in one real cook.
"""

from __future__ import annotations

PRELUDE = """
import base64, json, os, sys
import pdgcmd, pdgjson
from pdgjson import File, WorkItem
item = WorkItem.fromJobEnvironment()
iid = pdgcmd.getItemIdFromEnv()
def ok():
    pdgcmd.setIntAttrib("ok", 1, 0)
"""


def OK(rec):
    assert rec.attrs.get("ok") == ["int", [1]], (rec.name, rec.attrs, rec.error, rec.log)
    assert rec.state == "cooked_success", (rec.state, rec.error)


def attr(name, kind, values):
    def check(rec):
        assert rec.attrs.get(name) == [kind, values], (name, rec.attrs.get(name), rec.error, rec.log)
        assert rec.state == "cooked_success", (rec.state, rec.error)

    return check


def logged(text, state="cooked_success"):
    def check(rec):
        assert any(text in line for line in rec.logs), (text, rec.logs)
        assert rec.state == state, (rec.state, rec.error)

    return check


def in_log(text):
    def check(rec):
        assert text in rec.log, (text, rec.log)
        OK(rec)

    return check


def failed(rec):
    assert rec.state == "cooked_fail", (rec.state, rec.error)


def cancelled(rec):
    assert rec.state == "cooked_cancel", (rec.state, rec.error)
    assert "the job reported it was cancelled" in rec.logs, rec.logs


def outputs(*expected):
    def check(rec):
        assert [(o[0].split("/")[-1], o[1]) for o in rec.outputs] == list(expected), (rec.outputs, rec.error)
        assert rec.state == "cooked_success", (rec.state, rec.error)

    return check


#: a job that writes files does so in a folder of its own (jobs run side by side in the project)
W = "os.makedirs(item.name, exist_ok=True); os.chdir(item.name); open('w.txt', 'w').write('x'); open('v.txt', 'w').write('y')\n"


def file_attr(name, *expected):
    def check(rec):
        got = rec.attrs.get(name)
        assert got and got[0] == "file", (name, got, rec.error)
        assert [(v[0].split("/")[-1], v[1]) for v in got[1]] == list(expected), got
        assert rec.state == "cooked_success", (rec.state, rec.error)

    return check

CASES = {
    # -- pdgcmd ---------------------------------------------------------------------------------
    "pdgcmd.setVerbosity": ("pdgcmd.setVerbosity(1); assert pdgcmd.verbose == 1; ok()", OK),
    "pdgcmd.printlog": ("pdgcmd.printlog('hello from printlog', prefix='NOTE'); ok()", in_log("NOTE: hello from printlog")),
    "pdgcmd.verboseAnnounce": ("pdgcmd.setVerbosity(1); pdgcmd.verboseAnnounce(); ok()", in_log("PDG Result Server is 127.0.0.1:")),
    "pdgcmd.setResultServerAddr": (
        "a = pdgcmd.getResultServerAddr(); pdgcmd.setResultServerAddr(a); assert pdgcmd.getResultServerAddr() == a; ok()", OK),
    "pdgcmd.getResultServerAddr": ("assert pdgcmd.getResultServerAddr() == os.environ['PDG_RESULT_SERVER']; ok()", OK),
    "pdgcmd.getSplitServerHostPort": (
        "h, p = pdgcmd.getSplitServerHostPort(pdgcmd.getResultServerAddr()); assert h == '127.0.0.1' and p > 0; ok()", OK),
    "pdgcmd.setResultClientId": ("pdgcmd.setResultClientId('c7'); assert pdgcmd.getResultClientId() == 'c7'; ok()", OK),
    "pdgcmd.getResultClientId": ("assert pdgcmd.getResultClientId() == ''; ok()", OK),
    "pdgcmd.getItemIdFromEnv": ("pdgcmd.setStringAttrib('seen', str(pdgcmd.getItemIdFromEnv()), 0)",
                                lambda rec: attr("seen", "string", [rec.item_id])(rec)),
    "pdgcmd.delocalizePath": ("pdgcmd.setStringAttrib('d', pdgcmd.delocalizePath(os.environ['PDG_DIR'] + '/x.txt'), 0)",
                              attr("d", "string", ["__PDG_DIR__/x.txt"])),
    "pdgcmd.localizePath": (
        "assert pdgcmd.localizePath('__PDG_DIR__/x.txt') == os.environ['PDG_DIR'] + '/x.txt'\n"
        "assert pdgcmd.localizePath('__PDG_ITEM_NAME__') == os.environ['PDG_ITEM_NAME']; ok()", OK),
    "pdgcmd.makeDirSafe": ("pdgcmd.makeDirSafe('made/deep'); pdgcmd.makeDirSafe('made/deep'); assert os.path.isdir('made/deep'); ok()", OK),
    "pdgcmd.waitUntilReady": ("pdgcmd.waitUntilReady(iid, 0); ok()", OK),
    "pdgcmd.checkReady": ("assert pdgcmd.checkReady(iid, 0) is True; ok()", OK),
    "pdgcmd.appendSubItem": ("assert pdgcmd.appendSubItem(iid) == -1; ok()", OK),
    "pdgcmd.execBatchPoll": ("pdgcmd.execBatchPoll(iid, 0); ok()", in_log("execBatchPoll is deprecated")),
    "pdgcmd.getWorkItemJSON": ("d = json.loads(pdgcmd.getWorkItemJSON(iid, -1)); pdgcmd.setStringAttrib('n', d['name'], 0)",
                               lambda rec: attr("n", "string", [rec.name])(rec)),
    "pdgcmd.workItemSuccess": ("pdgcmd.workItemSuccess(iid)", logged("the job reported success")),
    "pdgcmd.execBatchSuccess": ("pdgcmd.execBatchSuccess(iid, 0)", logged("the job reported success")),
    "pdgcmd.workItemFailed": ("pdgcmd.workItemFailed(iid)", failed),
    "pdgcmd.execItemFailed": ("pdgcmd.execItemFailed(iid)", failed),
    "pdgcmd.workItemStartCook": ("pdgcmd.workItemStartCook(iid)", logged("the job started cooking")),
    "pdgcmd.execStartCook": ("pdgcmd.execStartCook(iid)", logged("the job started cooking")),
    "pdgcmd.workItemSetCustomState": ("pdgcmd.workItemSetCustomState('rendering')", attr("__pdg_state", "string", ["rendering"])),
    "pdgcmd.workItemSetCookPercent": ("pdgcmd.workItemSetCookPercent(42.5)", attr("__pdg_cookpercent", "float", [42.5])),
    "pdgcmd.workItemAppendLog": ("pdgcmd.workItemAppendLog('a line of log', 1)", logged("a line of log")),
    "pdgcmd.workItemCancelled": ("pdgcmd.workItemCancelled(iid)", cancelled),
    "pdgcmd.reportResultData": (W + "pdgcmd.reportResultData('w.txt', result_data_tag='file/text/w')", outputs(("w.txt", "file/text/w"))),
    "pdgcmd.addOutputFile": (W + "pdgcmd.addOutputFile('w.txt', iid, None, 'file/text/w', and_success=True)",
                             outputs(("w.txt", "file/text/w"))),
    "pdgcmd.addOutputFiles": (W + "pdgcmd.addOutputFiles(['w.txt', 'v.txt'], output_file_tag=['file/a', 'file/b'])",
                              outputs(("w.txt", "file/a"), ("v.txt", "file/b"))),
    "pdgcmd.writeAttribute": ("pdgcmd.writeAttribute('w', [1, 2])", attr("w", "int", [1, 2])),
    "pdgcmd.setStringAttribArray": ("pdgcmd.setStringAttribArray('s', ['a', 'b'])", attr("s", "string", ["a", "b"])),
    "pdgcmd.setIntAttribArray": ("pdgcmd.setIntAttribArray('i', [1, 2, 3], iid)", attr("i", "int", [1, 2, 3])),
    "pdgcmd.setFloatAttribArray": ("pdgcmd.setFloatAttribArray('f', [0.5, 2])", attr("f", "float", [0.5, 2.0])),
    "pdgcmd.setFileAttribArray": (W + "pdgcmd.setFileAttribArray('fa', [('w.txt', 'file/text', 0, False)])",
                                  file_attr("fa", ("w.txt", "file/text"))),
    "pdgcmd.setDictAttribArray": ("pdgcmd.setDictAttribArray('da', [str({'k': 1}), {'j': [2]}])",
                                  attr("da", "dict", [{"k": 1}, {"j": [2]}])),
    "pdgcmd.setPyObjectAttrib": ("pdgcmd.setPyObjectAttrib('p', repr({'a': (1, 2)}))", attr("p", "pyobject", ["{'a': (1, 2)}"])),
    "pdgcmd.setStringAttrib": ("pdgcmd.setStringAttrib('s', 'v', 1, iid)", attr("s", "string", ["", "v"])),
    "pdgcmd.setIntAttrib": ("pdgcmd.setIntAttrib('big', 5_000_000_000, 0, workitem_id=iid, raise_exc=True)",
                            attr("big", "int", [5_000_000_000])),
    "pdgcmd.setFloatAttrib": ("pdgcmd.setFloatAttrib('g', 2.2, 0)", attr("g", "float", [2.2])),
    "pdgcmd.setFileAttrib": (W + "pdgcmd.setFileAttrib('f', ('w.txt', 'file/text', 0, False), 0)",
                             file_attr("f", ("w.txt", "file/text"))),
    "pdgcmd.setDictAttrib": ("pdgcmd.setDictAttrib('d', str({'k': [1, 'x']}), 0)", attr("d", "dict", [{"k": [1, "x"]}])),
    "pdgcmd.invalidateCache": ("pdgcmd.invalidateCache()", lambda rec: rec.attrs["__pdg_cacheinvalidated"][1][0]),
    "pdgcmd.warning": ("pdgcmd.warning('disk almost full')", logged("disk almost full")),
    "pdgcmd.keepalive": ("pdgcmd.keepalive()", logged("keepalive")),
    "pdgcmd.sanitizeEnvironment": ("assert 'PATH' in pdgcmd.sanitizeEnvironment(['PATH']); ok()", OK),
    "pdgcmd.execCommand": (
        "out = pdgcmd.execCommand(item, sys.executable + ' -c \"print(41 + 1)\"'); assert out == '42', out; ok()",
        in_log("Executing command:")),
    "pdgcmd.RedirectBuffer": ("with pdgcmd.RedirectBuffer(sys.stdout) as b:\n    print('kept')\nassert 'kept' in b.buffer(); ok()", OK),
    "pdgcmd.StdOutReporter": (W + "r = pdgcmd.StdOutReporter()\nprint('OUTPUT_FILE:w.txt;file/text/out')\nr.reportAndClose()",
                              outputs(("w.txt", "file/text/out"))),
    # -- pdgjson: module functions ----------------------------------------------------------------
    "pdgjson.getTempDir": ("assert pdgjson.getTempDir() == os.environ['PDG_TEMP']; ok()", OK),
    "pdgjson.getWorkItemJsonPath": ("assert os.path.isfile(pdgjson.getWorkItemJsonPath(item.name)); ok()", OK),
    "pdgjson.getPyAttribLoader": ("assert pdgjson.getPyAttribLoader() == ''; ok()", OK),
    "pdgjson.getWorkItemDataSource": ("assert pdgjson.getWorkItemDataSource() == 0; ok()", OK),
    "pdgjson.getMemoryUsage": ("assert pdgjson.getMemoryUsage() > 0; ok()", OK),
    "pdgjson.isIterable": ("assert pdgjson.isIterable([1]) and not pdgjson.isIterable('s'); ok()", OK),
    "pdgjson.strData": ("assert pdgjson.strData(item, 'label') == 'L'; ok()", OK),
    "pdgjson.strDataArray": ("assert pdgjson.strDataArray(item, 'label') == ['L']; ok()", OK),
    "pdgjson.hasStrData": ("assert pdgjson.hasStrData(item, 'label') and not pdgjson.hasStrData(item, 'nope'); ok()", OK),
    "pdgjson.intData": ("assert pdgjson.intData(item, 'value') == item.index; ok()", OK),
    "pdgjson.intDataArray": ("assert pdgjson.intDataArray(item, 'value') == [item.index]; ok()", OK),
    "pdgjson.hasIntData": ("assert pdgjson.hasIntData(item, 'value'); ok()", OK),
    "pdgjson.floatData": ("assert pdgjson.floatData(item, 'scale') == 1.5; ok()", OK),
    "pdgjson.floatDataArray": ("assert pdgjson.floatDataArray(item, 'scale') == [1.5]; ok()", OK),
    "pdgjson.hasFloatData": ("assert pdgjson.hasFloatData(item, 'scale'); ok()", OK),
    "pdgjson.applyEnvironment": ("pdgjson.applyEnvironment(item); ok()", OK),
    "pdgjson.applyWedges": ("pdgjson.applyWedges(item); ok()", in_log("ERROR: Unable to apply wedges")),
    "pdgjson.printHoudiniInfo": ("pdgcmd.setVerbosity(1); pdgjson.printHoudiniInfo(); ok()", in_log("with PID")),
    "pdgjson.File": ("f = File('/a/b.txt', 'file/text', 7, True)\n"
                     "assert f.asTuple() == ('/a/b.txt', 'file/text', 7, True) and f.asJSONValue()['data'] == '/a/b.txt'; ok()", OK),
    "pdgjson.attribType": ("assert pdgjson.attribType.Int == 0 and pdgjson.attribType.Dict == 6; ok()", OK),
    "pdgjson.attribFlag": ("assert pdgjson.attribFlag.EnvExport == 2; ok()", OK),
    "pdgjson.workItemState": ("assert item.state == pdgjson.workItemState.Cooking; ok()", OK),
    "pdgjson.workItemType": ("assert item.type == pdgjson.workItemType.Regular; ok()", OK),
    # -- pdgjson.WorkItem ------------------------------------------------------------------------------
    "WorkItem.fromJobEnvironment": ("assert WorkItem.fromJobEnvironment().name == os.environ['PDG_ITEM_NAME']; ok()", OK),
    "WorkItem.fromItemName": ("assert WorkItem.fromItemName(item.name).id == item.id; ok()", OK),
    "WorkItem.fromFile": ("assert WorkItem.fromFile(pdgjson.getWorkItemJsonPath(item.name)).index == item.index; ok()", OK),
    "WorkItem.fromString": ("assert WorkItem.fromString(open(pdgjson.getWorkItemJsonPath(item.name)).read()).id == item.id; ok()", OK),
    "WorkItem.fromBase64String": (
        "b = base64.b64encode(open(pdgjson.getWorkItemJsonPath(item.name), 'rb').read())\n"
        "assert WorkItem.fromBase64String(b).id == item.id; ok()", OK),
    "WorkItem.fromRPC": ("assert WorkItem.fromRPC(iid).name == item.name; ok()", OK),
    "WorkItem.fromServiceData": ("d = open(pdgjson.getWorkItemJsonPath(item.name)).read()\n"
                                 "assert WorkItem.fromServiceData({'version': 1, 'work_item': d}).id == item.id; ok()", OK),
    "WorkItem.attrib": ("a = item.attrib('value'); assert a.value() == item.index and a.type == pdgjson.attribType.Int and a.size == 1; ok()", OK),
    "WorkItem.__getitem__": ("assert item['value'].value() == item.index and item['label'].values == ['L']; ok()", OK),
    "WorkItem.attribNames": ("assert {'value', 'label', 'scale'} <= set(item.attribNames()); ok()", OK),
    "WorkItem.attribValues": ("assert item.attribValues(pdgjson.attribType.String)['label'] == ['L']; ok()", OK),
    "WorkItem.attribType": ("assert item.attribType('scale') == pdgjson.attribType.Float; ok()", OK),
    "WorkItem.hasAttrib": ("assert item.hasAttrib('value') and not item.hasAttrib('nope'); ok()", OK),
    "WorkItem.attribValue": ("assert item.attribValue('value') == item.index and item.attribValue('nope') is None; ok()", OK),
    "WorkItem.intAttribValue": ("assert item.intAttribValue('value') == item.index and item.intAttribValue('label') is None; ok()", OK),
    "WorkItem.floatAttribValue": ("assert item.floatAttribValue('scale') == 1.5; ok()", OK),
    "WorkItem.stringAttribValue": ("assert item.stringAttribValue('label') == 'L'; ok()", OK),
    "WorkItem.fileAttribValue": ("assert item.fileAttribValue('tex').tag == 'file/image'; ok()", OK),
    "WorkItem.dictAttribValue": ("assert item.dictAttribValue('meta') == {'k': [1, 2]}; ok()", OK),
    "WorkItem.pyObjectAttribValue": ("item.setPyObjectAttrib('po', {'x': 1}); assert item.pyObjectAttribValue('po') == {'x': 1}; ok()", OK),
    "WorkItem.attribArray": ("assert item.attribArray('value') == [item.index]; ok()", OK),
    "WorkItem.intAttribArray": ("assert item.intAttribArray('value') == [item.index]; ok()", OK),
    "WorkItem.floatAttribArray": ("assert item.floatAttribArray('scale') == [1.5]; ok()", OK),
    "WorkItem.stringAttribArray": ("assert item.stringAttribArray('label') == ['L']; ok()", OK),
    "WorkItem.fileAttribArray": ("assert [f.tag for f in item.fileAttribArray('tex')] == ['file/image']; ok()", OK),
    "WorkItem.dictAttribArray": ("assert item.dictAttribArray('meta') == [{'k': [1, 2]}]; ok()", OK),
    "WorkItem.setIntAttrib": ("item.setIntAttrib('n', 5, 1); item.setIntAttrib('m', [1, 2])", attr("m", "int", [1, 2])),
    "WorkItem.setFloatAttrib": ("item.setFloatAttrib('fl', 0.25)", attr("fl", "float", [0.25])),
    "WorkItem.setStringAttrib": ("item.setStringAttrib('runtime_attrib', 'test value', 0)", attr("runtime_attrib", "string", ["test value"])),
    "WorkItem.setFileAttrib": (W + "item.setFileAttrib('wf', File('w.txt', 'file/text'))", file_attr("wf", ("w.txt", "file/text"))),
    "WorkItem.setDictAttrib": ("item.setDictAttrib('dd', {'a': [1, None]})", attr("dd", "dict", [{"a": [1, None]}])),
    "WorkItem.setPyObjectAttrib": ("item.setPyObjectAttrib('po', [1, 'two'])", attr("po", "pyobject", ["[1, 'two']"])),
    "WorkItem.addOutputFile": (W + "item.addOutputFile('w.txt', 'file/text/w')", outputs(("w.txt", "file/text/w"))),
    "WorkItem.addOutputFiles": (W + "item.addOutputFiles(['w.txt', 'v.txt'], 'file/text/x')",
                                outputs(("w.txt", "file/text/x"), ("v.txt", "file/text/x"))),
    "WorkItem.addResultData": (W + "item.addResultData('v.txt', 'file/text/v')", outputs(("v.txt", "file/text/v"))),
    "WorkItem.inputFiles": ("assert [f.tag for f in item.inputFiles] == ['file/text/python'] and item.inputResultData; ok()", OK),
    "WorkItem.inputFilesForTag": ("assert len(item.inputFilesForTag('file/text')) == 1 and not item.inputFilesForTag('file/image'); ok()", OK),
    "WorkItem.outputFiles": (W + "n = len(item.outputFiles); item.addOutputFile('w.txt'); assert item.outputFiles[n].path == os.path.abspath('w.txt')",
                             outputs(("w.txt", "file/text"))),
    "WorkItem.setCustomState": ("item.setCustomState('waiting on license')", attr("__pdg_state", "string", ["waiting on license"])),
    "WorkItem.setCookPercent": ("item.setCookPercent(10)", attr("__pdg_cookpercent", "float", [10.0])),
    "WorkItem.invalidateCache": ("item.invalidateCache()", lambda rec: rec.attrs["__pdg_cacheinvalidated"]),
    "WorkItem.cookWarning": ("item.cookWarning('careful')", logged("careful")),
    "WorkItem.addMessage": ("item.addMessage('a message'); ok()", in_log("a message")),
    "WorkItem.addWarning": ("item.addWarning('a warning'); ok()", in_log("WARNING: a warning")),
    "WorkItem.addError": ("item.addError('it broke', fail_task=True)", failed),
    "WorkItem.setJobState": ("item.setJobState(pdgjson.workItemState.Cooking); item.setJobState(pdgjson.workItemState.CookedSuccess)",
                             logged("the job reported success")),
    "WorkItem.batch": ("assert not item.isBatch and item.batchParent is None and item.batchIndex == -1 and item.batchSize == 0; ok()", OK),
    "WorkItem.appendSubItem": ("try:\n    item.appendSubItem()\nexcept TypeError:\n    ok()", OK),
    "WorkItem.startSubItem": ("try:\n    item.startSubItem()\nexcept TypeError:\n    ok()", OK),
    "WorkItem.checkSubItem": ("try:\n    item.checkSubItem()\nexcept TypeError:\n    ok()", OK),
    "WorkItem.cookSubItem": ("try:\n    item.cookSubItem()\nexcept TypeError:\n    ok()", OK),
    "WorkItem.localizePath": ("assert item.localizePath('__PDG_TEMP__/x') == os.environ['PDG_TEMP'] + '/x'; ok()", OK),
    "WorkItem.properties": ("assert item.frame == 0.0 and not item.hasFrame and item.label == item.name and item.isOutOfProcess\n"
                            "assert item.customState == '' and item.cookPercent == -1.0 and item.environment == {}; ok()", OK),
    "WorkItem.serviceResponse": ("assert item.serviceResponse('success') == {} and WorkItem.serviceFailure('x')['status'] == 'failed'; ok()", OK),
    "WorkItem.applyEnvironment": ("item.applyEnvironment(); ok()", OK),
}
