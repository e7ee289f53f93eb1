"""The cluster runtime: master, worker, wire protocol, embedded clusters."""
