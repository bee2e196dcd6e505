# Seed 003, "Custom file stat functions", second sample: CRC for files of any tag, but only for
# the work items of a File Pattern. The lost try/except is restored (the smallest fix).
import zlib


def crc_handler(local_path, raw_file, work_item):
    if work_item and work_item.node.type.typeName != 'filepattern':
        return 0

    try:  # the fix
        with open(local_path, 'rb') as local_file:
            return zlib.crc32(local_file.read())
    except OSError:
        return 0


def registerTypes(type_registry):
    type_registry.registerStatHandler("file", crc_handler)
