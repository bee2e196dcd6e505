# Seed 003, "Custom file transfer handlers": the page's approximate default handler. Lost lines
# restored as the smallest fix: `is dst_exists` is `if dst_exists`, and the try/except blocks
# around the directory copy and the makedirs are back.
import os
import shutil

import pdg


def transferCopy(src_path, dst_path, file_object, work_item, scheduler, cache_id):
    dst_exists = os.path.exists(dst_path)

    # If the paths are the same and exist, return early
    if dst_exists and os.path.samefile(src_path, dst_path):  # the fix: `is` -> `if`
        return pdg.TransferPair.skip()

    # unconditionally copy directores
    if os.path.isdir(src_path):
        try:  # the fix: the lost try/except
            shutil.copytree(src_path, dst_path)
            return pdg.TransferPair.success()
        except OSError:
            return pdg.TransferPair.failure()

    # if the old mod time matches the current one, skip the copy and
    # indicate that the transfer was cached
    src_mtime = int(os.path.getmtime(src_path))
    if dst_exists:
        if os.path.getsize(src_path) == os.path.getsize(dst_path):
            if src_mtime == cache_id:
                return pdg.TransferPair.cached()

    dst_dir = os.path.dirname(dst_path)

    # create intermediate directories as needed
    try:  # the fix: the lost try/except
        if not os.path.exists(dst_dir):
            os.makedirs(dst_dir)
    except OSError:
        pass

    # copy the file
    shutil.copyfile(src_path, dst_path)
    return pdg.TransferPair.success(src_mtime)


# Register the handler for all types of file
def registerTypes(type_registry):
    type_registry.registerTransferHandler("file", transferCopy)
