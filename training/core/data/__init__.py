"""Data: sources (`sources`, `builtin`), splits and nested subsets (`split`), tokenisation (`tokenize`)
and the task data a run trains on (`task`). Importing this package imports no torch."""
