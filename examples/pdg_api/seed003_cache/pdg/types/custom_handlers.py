# Seed 003, "Custom cache handlers". The page's sample lost lines when it was saved: `pdg` is used but
# not imported, and the try/except around os.stat is gone (the prose: a zero-size file is a miss,
# any other file a hit, a missing one a miss). The smallest fix restores exactly that.
import os

import pdg  # the fix: the page uses pdg.cacheResult


def simple_handler(local_path, raw_file, work_item):
    return pdg.cacheResult.Skip


def custom_handler(local_path, raw_file, work_item):
    # Skip work items that don't have the right attribute
    if work_item['usecustomcaching'].value() == 0:
        return pdg.cacheResult.Skip
    try:  # the fix: the lost try/except
        if os.stat(local_path).st_size == 0:
            return pdg.cacheResult.Miss
        return pdg.cacheResult.Hit
    except OSError:
        return pdg.cacheResult.Miss


def registerTypes(type_registry):
    type_registry.registerCacheHandler("file/geo", custom_handler)
    type_registry.registerCacheHandler("file/usd", simple_handler)
