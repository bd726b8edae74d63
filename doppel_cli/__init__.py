"""The `doppel` command line: thin commands above the engine and trainers libraries."""
