"""Runs as a service: the store (the only SQL), typed records, settings and policy, planning an experiment, executing
one run, the run-control protocol, the dispatcher and its worker processes, learning-rate searches, bundles."""
