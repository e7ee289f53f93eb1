"""Scheduling: stages in the driver (`dag`), tasks in the master (`taskset`)."""
