"""PDG's low-level Job API (SideFX's ``pdgcmd``): a job reports attributes, output files, progress
and its status to the engine's result server over XML-RPC.

Every function of SideFX's public ``pdgcmd.py`` is here with its name, positional order and keywords
(``workitem_id=``, ``subindex=``, ``server_addr=``, ``to_stdout=``, ``raise_exc=``; see
``docs/jobapi.md`` for the table). Standard library only: the scheduler copies this file into
``$PDG_TEMP/scripts`` next to the job.

- **Standalone**: without ``$PDG_RESULT_SERVER`` (or with ``PDG_DISABLE_RPC=1``) RPC is off, as in
  SideFX's module: each report is printed to stdout (``PDG_RESULT: ...``) and the script goes on, so
  a job script can be tried by hand.
- **Idempotent**: every call carries a report key (item, attempt, report number), so a call repeated
  after a dropped connection changes nothing the second time. Calls retry with backoff
  (``PDG_RPC_TIMEOUT``, ``PDG_RPC_RETRIES``, ``PDG_RPC_BACKOFF``); when the server stays gone, or
  refuses a call, the job ends with a one-line message on stderr and exit status 1
  (``ServerGone``/``ReportRefused`` are ``SystemExit``s); with ``raise_exc=False`` the failure is
  logged and the script goes on.
- **Paths**: ``localizePath`` expands ``__PDG_*__`` tokens and applies the path map
  (``$PDG_PATHMAP``, PDG's JSON format, zone ``$PDG_PATHMAP_ZONE`` or this platform's);
  ``delocalizePath`` puts ``__PDG_DIR__`` back, and the server maps it to the project.
"""

from __future__ import annotations

import contextlib
import locale
import os
import socket
import sys
import threading
import time


try:  # beside the job (``$PDG_TEMP/scripts`` on its PYTHONPATH), or inside the engine's package
    from pdgexec import RedirectBuffer, StdOutReporter, execCommand, sanitizeEnvironment
    from pdgpaths import apply_path_map, build_path_map, delocalizePath, localizePath, makeDirSafe, substitute_tokens
    from pdgrpc import (XMLRPC_INT_MAX, XMLRPC_INT_MIN, Client, NotSent, ReportRefused, ServerGone, TooLarge,
                        env_number)
except ImportError:  # pragma: no cover - the engine imports it as pdgstore.engine.schedulers.jobapi.pdgcmd
    from pdgstore.engine.schedulers.jobapi.pdgexec import (
        RedirectBuffer,
        StdOutReporter,
        execCommand,
        sanitizeEnvironment,
    )
    from pdgstore.engine.schedulers.jobapi.pdgpaths import (
        apply_path_map,
        build_path_map,
        delocalizePath,
        localizePath,
        makeDirSafe,
        substitute_tokens,
    )
    from pdgstore.engine.schedulers.jobapi.pdgrpc import (
        XMLRPC_INT_MAX,
        XMLRPC_INT_MIN,
        Client,
        NotSent,
        ReportRefused,
        ServerGone,
        TooLarge,
        env_number,
    )

__all__ = ["RedirectBuffer", "StdOutReporter", "execCommand", "sanitizeEnvironment", "apply_path_map",
           "build_path_map", "delocalizePath", "localizePath", "makeDirSafe", "substitute_tokens", "ReportRefused",
           "ServerGone"]

_client: Client | None = None
_client_pid = 0  # the process that made ``_client``
_lock = threading.Lock()
_token = f"{os.getpid()}-{os.urandom(4).hex()}"  # report numbers of this process never meet another's
_counter = 0
attrib_arrays: dict[str, list] = {}  # the job's view of each attribute set so far, for indexed setters
#: the job's item file as read once (``pdgattrs``: an attribute's first values)
item_files: dict[str, dict | None] = {}
_local = threading.local()  # .pending: the calls of an open batch() on this thread

# -- module settings, as SideFX's ------------------------------------------------------------------
LogDefault, LogVerbose = 0, 1
verbose = env_number("PDG_VERBOSE", 0, int)
disable_timestamps = env_number("PDG_DISABLE_TIMESTAMPS", 0, int)
#: RPC is off without a result server (standalone: reports go to stdout only) or with PDG_DISABLE_RPC
disable_rpc = "PDG_RESULT_SERVER" not in os.environ or env_number("PDG_DISABLE_RPC", 0, int) > 0
result_server_addr = None
result_client_id = None
theJobid = os.environ.get(os.environ.get("PDG_JOBID_VAR", ""), "") if os.environ.get("PDG_JOBID_VAR") else ""
#: Passing $PDG_DELOCALIZE=0 turns off delocalization (the substitution of __PDG_DIR__)
theDelocalizePaths = os.environ.get("PDG_DELOCALIZE", "1") != "0"


class RpcError(Exception):
    """An RPC failed (raised only where a caller asked for exceptions instead of an exit)."""


def is_str(s):
    """Whether ``s`` is text or bytes (SideFX's Python 2/3 helper)."""
    return isinstance(s, (bytes, bytearray, str))


def decode_str(s):
    """``s`` as text (SideFX's Python 2/3 helper: on Python 3, text is already text)."""
    return s.decode(sys.getfilesystemencoding()) if isinstance(s, (bytes, bytearray)) else s


def setRpcDelegate(delegate_obj):
    """Only XML-RPC is spoken here: None or "xmlrpc" keeps it; PDGNet (PDG_JOBUSE_PDGNET) needs
    Houdini's pdgutils, which a plain Python job does not have."""
    if delegate_obj not in (None, "xmlrpc"):
        raise RpcError(f"pdgcmd: RPC delegate {delegate_obj!r} is not available; the engine speaks XML-RPC only")


# -- logging ---------------------------------------------------------------------------------------
def setVerbosity(level):
    """Set the global verbosity level (PDG_VERBOSE)."""
    global verbose
    verbose = int(level)


def printlog(msg, verbosity=LogDefault, timestamp=True, prefix="", end="\n"):
    """Print a log line to stdout (the job's log), timestamped unless PDG_DISABLE_TIMESTAMPS;
    lines above the verbosity level (``verbosity`` > PDG_VERBOSE) are dropped."""
    if verbosity > verbose:
        return
    text = msg.decode("utf-8", "replace") if isinstance(msg, (bytes, bytearray)) else str(msg)
    if prefix:
        text = f"{prefix}: {text}"
    if timestamp and not disable_timestamps:
        text = f"[{_clock()}] {text}"
    encoding = getattr(sys.stdout, "encoding", None) or locale.getpreferredencoding() or "ascii"
    data = (text + (end or "")).encode(encoding, "replace")
    try:
        sys.stdout.buffer.write(data)
    except (AttributeError, TypeError):
        sys.stdout.write(data.decode(encoding, "replace"))
    sys.stdout.flush()


def _clock() -> str:
    """The time of day as ``HH:MM:SS.mmm`` (``datetime`` costs a job's start about 2 ms to import)."""
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"


def verboseAnnounce():
    """With PDG_VERBOSE, print this host and the result server (what a job wrapper prints)."""
    if verbose < LogVerbose:
        return
    host = socket.gethostname()
    printlog(f"PDG Client is {host} [{getResultClientId()}]")
    addr = getResultServerAddr()
    if addr:
        printlog(f"PDG Result Server is {addr}")


# -- the result server -----------------------------------------------------------------------------
def setResultServerAddr(force_server_addr):
    """Report to this ``host:port`` from now on (turns RPC on unless PDG_DISABLE_RPC)."""
    global result_server_addr, disable_rpc, _client
    result_server_addr = force_server_addr
    if force_server_addr:
        disable_rpc = env_number("PDG_DISABLE_RPC", 0, int) > 0
        _client = None


def getResultServerAddr():
    """The result server address: set by setResultServerAddr, else $PDG_RESULT_SERVER, else None."""
    return result_server_addr or os.environ.get("PDG_RESULT_SERVER") or None


def getSplitServerHostPort(server_addr):
    """``host:port`` -> (host, port)."""
    host, sep, port = str(server_addr).rpartition(":")
    if not sep or not port.isdigit():
        raise RuntimeError(f"Invalid result (MQ) server address {server_addr}")
    return host, int(port)


def setResultClientId(client_id):
    global result_client_id
    result_client_id = client_id


def getResultClientId():
    return result_client_id or os.environ.get("PDG_RESULT_CLIENT_ID", "")


def client(server_addr=None) -> Client:
    """The connection to ``server_addr`` (default: the result server). A forked child makes its
    own: two processes on one connection would interleave their requests."""
    global _client, _client_pid
    address = server_addr or getResultServerAddr()
    if _client is None or _client.address != address or _client_pid != os.getpid():
        _client, _client_pid = Client(address), os.getpid()
    return _client


def reset(new_client: Client | None = None) -> None:
    """Forget the connection and the attribute cache (tests; a job never needs this)."""
    global _client
    _client = new_client
    attrib_arrays.clear()
    item_files.clear()


@contextlib.contextmanager
def batch():
    """Send the reports made inside the block in one round trip (``system.multicall``) when it ends.

    Each report is still checked and applied on its own; a refused one ends the job as usual, once
    the others were sent. Nested blocks join the outer one. (The engine's addition to the API.)"""
    if getattr(_local, "pending", None) is not None:
        yield
        return
    _local.pending = []
    try:
        yield
    finally:
        calls, _local.pending = _local.pending, None
        if calls:
            _flush(calls)


def _flush(calls: list) -> None:
    """Send a batch in one request, or in halves when it is over the server's body limit. A batch
    of one report goes as that report's own call: the same answer and the same refusal, without a
    multicall to write, open and answer on each side."""
    if len(calls) == 1:
        method, args, what, (server, raise_exc) = calls[0]
        _call(method, *args, what=what, server_addr=server, raise_exc=raise_exc)
        return
    wire = [{"methodName": method, "params": list(args)} for method, args, _, _ in calls]
    server, raise_exc = calls[0][3]
    try:
        results = _call("system.multicall", wire, what=f"{len(calls)} batched reports", split=len(calls) > 1,
                        server_addr=server, raise_exc=raise_exc)
    except TooLarge:
        _flush(calls[: len(calls) // 2])
        _flush(calls[len(calls) // 2:])
        return
    for (_, _, what, (_, raise_exc)), result in zip(calls, results or ()):
        if isinstance(result, dict):
            refused(f"pdgcmd: the result server refused {what}: {result.get('faultString')}", raise_exc)


def refused(message: str, raise_exc: bool, item=None) -> None:
    """A report not made: the job ends (``raise_exc``; its ``item`` told why first), or a warning."""
    if raise_exc:
        last_words(item, message)
        raise ReportRefused(message)
    printlog(message, prefix="WARNING")


def last_words(item, message: str, subindex=-1, server_addr=None) -> None:
    """Tell the engine (an error in the item's log) why the job is about to fail: the item's error
    then says it. Best effort: never raises; nothing when ``item`` is None. (The engine's addition.)"""
    if item is None or (disable_rpc and not server_addr):
        return
    try:
        client(server_addr).call("append_log", report_key(str(item)), int(subindex), str(message)[:4000], 0,
                                 what="the job's last words")
    except BaseException:  # noqa: BLE001 - the job is failing already: its own message comes first
        pass


def invoke(method: str, *args, what: str, server_addr=None, raise_exc=True, reply=False):
    """Make one report now (or queue it in an open batch()); nothing when RPC is off."""
    if disable_rpc and not server_addr:
        return None
    pending = getattr(_local, "pending", None)
    if pending is not None and not reply:
        pending.append((method, args, what, (server_addr, raise_exc)))
        return None
    return _call(method, *args, what=what, server_addr=server_addr, raise_exc=raise_exc)


def _call(method: str, *args, what: str, split: bool = False, server_addr=None, raise_exc=True):
    try:
        return client(server_addr).call(method, *args, what=what)
    except TooLarge as exc:
        if split:
            raise
        refused(f"pdgcmd: {what} cannot be sent: the request is {exc}", raise_exc, _item_in(args))
    except NotSent as exc:
        if raise_exc:
            last_words(_item_in(args), str(exc), server_addr=server_addr)
            raise
        printlog(str(exc), prefix="WARNING")
    except SystemExit as exc:
        if raise_exc:
            raise
        printlog(str(exc), prefix="WARNING")
    return None


def _item_in(args: tuple):
    """The item a call's report key (its first argument) names, or None."""
    return args[0][0] if args and isinstance(args[0], list) and args[0] and isinstance(args[0][0], str) else None


def item_of(workitem_id) -> str:
    item = workitem_id if workitem_id not in (None, "") else getItemIdFromEnv()
    if item in (None, ""):
        raise ReportRefused("pdgcmd: neither PDG_ITEM_ID nor PDG_ITEM_NAME is set: which work item is this?")
    return str(item)


def report_key(item: str, subindex=-1) -> list:
    """(item, attempt, report number): unique per report, the same for a retry of it. A batch's
    sub-item is the batch's ``item`` with its sub index, a fourth entry."""
    global _counter, _token
    with _lock:
        if not _token.startswith(f"{os.getpid()}-"):  # a forked child: its reports are not its parent's repeats
            _token, _counter = f"{os.getpid()}-{os.urandom(4).hex()}", 0
        _counter += 1
        number = f"{_token}.{_counter}"
    key = [item, env_number("PDG_ITEM_ATTEMPT", 0, int), number]
    if subindex is not None and int(subindex) >= 0:
        key.append(int(subindex))
    return key


def getItemIdFromEnv():
    """The job's work item id ($PDG_ITEM_ID; an int where it is one), else $PDG_ITEM_NAME, else None."""
    item = os.environ.get("PDG_ITEM_ID") or os.environ.get("PDG_ITEM_NAME")
    if item is None:
        return None
    try:
        return int(item)
    except ValueError:
        return item


def wire_path(path) -> str:
    """An output or file attribute path as the server takes it: delocalized where it is under
    $PDG_DIR, else absolute."""
    path = os.fspath(getattr(path, "path", path))
    deloc = delocalizePath(os.path.abspath(localizePath(path)))
    return deloc


# -- status ----------------------------------------------------------------------------------------
def say(text: str) -> None:
    """A report's line on stdout (the job's log): always standalone, where it is the report itself;
    with a result server only at PDG_VERBOSE=1, since the report is in the engine's log already."""
    printlog(text, verbosity=LogDefault if disable_rpc else LogVerbose)


def status_of(workitem_id, subindex: int) -> str:
    return f"{workitem_id};{subindex}"


def workItemStartCook(workitem_id=None, subindex=-1, server_addr=None, to_stdout=True, raise_exc=True):
    """Reports that a work item (or batch sub item ``subindex``) has started cooking."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_START: {status_of(item, subindex)}")
    invoke("start_cook", report_key(item), int(subindex), what="start", server_addr=server_addr,
            raise_exc=raise_exc)


def workItemSuccess(workitem_id=None, subindex=-1, server_addr=None, to_stdout=True, raise_exc=True):
    """Reports that the work item (or batch sub item ``subindex``) succeeded."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_SUCCESS: {status_of(item, subindex)};0")
    invoke("report_status", report_key(item, subindex), True, "",
            what="success", server_addr=server_addr, raise_exc=raise_exc)


def workItemFailed(workitem_id=None, server_addr=None, to_stdout=True, raise_exc=True):
    """Reports that the work item failed (its job's exit code is then not asked)."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_FAILED: {item}")
    invoke("report_status", report_key(item), False, "", what="failure", server_addr=server_addr,
            raise_exc=raise_exc)


def workItemCancelled(workitem_id=None, server_addr=None, raise_exc=True):
    """Reports that the work item was explicitly cancelled."""
    item = item_of(workitem_id)
    say(f"PDG_CANCELLED: {item}")
    invoke("cancelled", report_key(item), what="cancellation", server_addr=server_addr, raise_exc=raise_exc)


def workItemSetCustomState(custom_state, workitem_id=None, subindex=-1, server_addr=None, to_stdout=True,
                           raise_exc=True):
    """Sets a custom state string on the work item (its ``__pdg_state`` attribute)."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_SET_CUSTOM_STATE: {status_of(item, subindex)};{custom_state}")
    invoke("set_custom_state", report_key(item), int(subindex), str(custom_state), what="a custom state",
            server_addr=server_addr, raise_exc=raise_exc)


def workItemSetCookPercent(cook_percent, workitem_id=None, subindex=-1, server_addr=None, to_stdout=True,
                           raise_exc=True):
    """Sets the work item's cook percentage (its ``__pdg_cookpercent`` attribute)."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_SET_COOK_PERCENT: {status_of(item, subindex)};{cook_percent}")
    invoke("set_cook_percent", report_key(item), int(subindex), float(cook_percent), what="a cook percent",
            server_addr=server_addr, raise_exc=raise_exc)


def workItemAppendLog(log_data, log_type=3, workitem_id=None, subindex=-1, server_addr=None, to_stdout=True,
                      raise_exc=True):
    """Adds ``log_data`` to the work item's log (``log_type``: 0 error, 1 warning, 2 message, 3 raw)."""
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_APPEND_LOG: {status_of(item, subindex)};{len(log_data)}")
    invoke("append_log", report_key(item), int(subindex), str(log_data), int(log_type), what="a log entry",
            server_addr=server_addr, raise_exc=raise_exc)


def invalidateCache(workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    """Asks the engine to treat the item's results as new, so its dependents cook."""
    item = item_of(workitem_id)
    say(f"PDG_INVALIDATE_CACHE: {status_of(item, subindex)}")
    invoke("invalidate_cache", report_key(item), int(subindex), what="a cache invalidation",
            server_addr=server_addr, raise_exc=raise_exc)


def keepalive(workitem_id=None, server_addr=None, raise_exc=True):
    """A heartbeat: the job is alive (recorded with the item)."""
    item = item_of(workitem_id)
    invoke("keepalive", report_key(item), what="a keepalive", server_addr=server_addr, raise_exc=raise_exc)


def warning(message, workitem_id=None, server_addr=None, raise_exc=True):
    """A warning on the work item (its history shows it)."""
    item = item_of(workitem_id)
    if disable_rpc:
        printlog(str(message), prefix="WARNING")
    invoke("warning", report_key(item), str(message), what="a warning", server_addr=server_addr,
            raise_exc=raise_exc)


# -- batch sub items -------------------------------------------------------------------------------
def getWorkItemJSON(workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    """The work item serialized as JSON by the engine ('' when RPC is off)."""
    item = item_of(workitem_id)
    if disable_rpc and not server_addr:
        return ""
    return invoke("get_workitem_json", report_key(item), int(subindex), what="the work item's JSON",
                   server_addr=server_addr, raise_exc=raise_exc, reply=True) or ""


def checkReady(workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    """Whether batch sub item ``subindex`` may cook (RuntimeError when a dependency failed)."""
    item = item_of(workitem_id)
    if disable_rpc and not server_addr:
        return False
    answer = invoke("check_ready_batch", report_key(item), int(subindex), what="a readiness check",
                     server_addr=server_addr, raise_exc=raise_exc, reply=True)
    if answer == 2:
        raise RuntimeError("Failed Dependency!")
    return answer == 1


def waitUntilReady(workitem_id=None, subindex=-1, server_addr=None, raise_exc=True):
    """Block until batch sub item ``subindex`` may cook (polls every $PDG_BATCH_POLL_DELAY s)."""
    if disable_rpc and not server_addr:
        return
    delay = env_number("PDG_BATCH_POLL_DELAY", 1.0)
    while not checkReady(workitem_id, subindex, server_addr, raise_exc):
        time.sleep(delay)


def appendSubItem(workitem_id=None, server_addr=None, raise_exc=True):
    """Add a sub item to a running batch: its index, or -1 where the item is not a batch."""
    item = item_of(workitem_id)
    if disable_rpc and not server_addr:
        return False
    answer = invoke("add_sub_item_batch", report_key(item), what="a new batch sub item", server_addr=server_addr,
                     raise_exc=raise_exc, reply=True)
    return int(answer) if answer is not None else -1


def execBatchPoll(item_name, subindex, server_addr=None):
    printlog("execBatchPoll is deprecated, please use waitUntilReady instead.")
    return waitUntilReady(item_name, subindex, server_addr)


def execBatchSuccess(item_name, subindex, server_addr=None, to_stdout=True):
    printlog("execBatchSuccess is deprecated, please use workItemSuccess instead.")
    return workItemSuccess(item_name, subindex, server_addr, to_stdout)


def execItemFailed(item_name, server_addr=None, to_stdout=True):
    printlog("execItemFailed is deprecated, please use workItemFailed instead.")
    return workItemFailed(item_name, server_addr, to_stdout)


def execStartCook(item_name=None, subindex=-1, server_addr=None, to_stdout=True):
    printlog("execStartCook is deprecated, please use workItemStartCook instead.")
    return workItemStartCook(item_name, subindex, server_addr, to_stdout)


# -- output files ----------------------------------------------------------------------------------
def _send_outputs(item: str, paths: list, tags: list, hashes: list, subindex: int, server_addr, raise_exc,
                  to_stdout: bool, and_success: bool = False) -> None:
    wire = []
    for path, tag, hash_code in zip(paths, tags, hashes):
        deloc = wire_path(path)
        if to_stdout:
            say(f"PDG_RESULT: {status_of(item, subindex)};{deloc};{tag};{hash_code}")
        wire.append([deloc, str(tag or ""), "" if hash_code in (None, 0, "") else str(hash_code)])
    if wire:
        invoke("add_output_files", report_key(item, subindex), wire, what=f"output files {[w[0] for w in wire[:3]]}",
                server_addr=server_addr, raise_exc=raise_exc)
    if and_success:
        workItemSuccess(item, subindex, server_addr, to_stdout, raise_exc)


def addOutputFile(result_data, workitem_id=None, server_addr=None, result_data_tag="", subindex=-1,
                  and_success=False, to_stdout=True, raise_exc=True, duration=0.0, hash_code=0, batch_size=50):
    """Reports an output file (or a list of them) of the work item; ``result_data_tag`` '' tags it by
    its extension; ``and_success`` reports success too."""
    paths = list(result_data) if isinstance(result_data, (list, tuple)) else [result_data]
    if not paths:
        raise TypeError("result_data is invalid")
    if not isinstance(paths[0], (str, bytes, os.PathLike)) and not hasattr(paths[0], "path"):
        raise TypeError("result_data must be string-like or a list of string-like")
    item = item_of(workitem_id)
    for start in range(0, len(paths), max(1, int(batch_size))):
        chunk = paths[start:start + max(1, int(batch_size))]
        _send_outputs(item, chunk, [result_data_tag] * len(chunk), [hash_code] * len(chunk), subindex,
                      server_addr, raise_exc, to_stdout)
    if and_success:
        workItemSuccess(item, subindex, server_addr, to_stdout, raise_exc)


def reportResultData(result_data, workitem_id=None, server_addr=None, result_data_tag="", subindex=-1,
                     and_success=False, to_stdout=True, raise_exc=True, duration=0.0, hash_code=0, batch_size=50):
    """Deprecated in favour of addOutputFile."""
    addOutputFile(result_data, workitem_id, server_addr, result_data_tag, subindex, and_success, to_stdout,
                  raise_exc, duration, hash_code, batch_size)


def addOutputFiles(output_file_array, workitem_id=None, server_addr=None, output_file_tag="", subindex=-1,
                   to_stdout=True, raise_exc=True, duration=0.0, hash_codes=()):
    """Reports several output files; ``output_file_tag`` is one tag for all or one per file."""
    if not output_file_array:
        raise TypeError("output_file_array is invalid")
    paths = list(output_file_array)
    if isinstance(output_file_tag, (str, bytes)) or output_file_tag is None:
        tags = [output_file_tag or ""] * len(paths)
    else:
        tags = list(output_file_tag) + [""] * (len(paths) - len(output_file_tag))
    hashes = list(hash_codes or ()) + [0] * (len(paths) - len(hash_codes or ()))
    item = item_of(workitem_id)
    if to_stdout:
        say(f"PDG_RESULT_ARRAY: {status_of(item, subindex)};[{len(paths)} files];[{len(set(tags))} tag(s)]")
    limit = env_number("PDG_RPC_MAX_ARRAY_SIZE", 2000, int)
    for start in range(0, len(paths), limit):
        _send_outputs(item, paths[start:start + limit], tags[start:start + limit], hashes[start:start + limit],
                      subindex, server_addr, raise_exc, to_stdout=False)


# -- attributes: in pdgattrs (the same module to a job) -------------------------------------------
try:
    from pdgattrs import (  # noqa: E402
        load_item_data,
        send_attrib,
        setDictAttrib,
        setDictAttribArray,
        setFileAttrib,
        setFileAttribArray,
        setFloatAttrib,
        setFloatAttribArray,
        setIntAttrib,
        setIntAttribArray,
        setPyObjectAttrib,
        setStringAttrib,
        setStringAttribArray,
        wire_value,
        writeAttribute,
    )
except ImportError:  # pragma: no cover - imported from the engine's package
    from pdgstore.engine.schedulers.jobapi.pdgattrs import *  # noqa: E402,F403


# -- connecting early ------------------------------------------------------------------------------
if __name__ == "pdgcmd" and not disable_rpc:  # a job (the engine imports it under its package name)
    # connect while the job still starts (its imports, its own work before its first report): the
    # result server's accept and handler thread are then ready by the first call, not made for it
    try:
        client().open()
    except (Exception, SystemExit):  # noqa: BLE001 - never a reason for an import to fail: the first call connects
        pass


# -- the engine's earlier names, kept for scripts written against them --------------------------------
def localize_abs(path) -> str:
    return os.path.abspath(localizePath(os.fspath(getattr(path, "path", path))))
