"""Files as the log records them: records and stat checks, tags and their handlers, cache, transfer."""
