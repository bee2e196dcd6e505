# Seed 003, "Custom file stat functions": a CRC checksum for text files. The page lost the
# try/except around the read (its `return 0` is the except branch); the smallest fix restores it.
import zlib


def crc_handler(local_path, raw_file, work_item):
    try:  # the fix
        with open(local_path, 'rb') as local_file:
            return zlib.crc32(local_file.read())
    except OSError:
        return 0


def registerTypes(type_registry):
    type_registry.registerStatHandler("file/txt", crc_handler)
