"""One cook: the loop, dispatch to schedulers, the static part, the recorder and its log appender."""
