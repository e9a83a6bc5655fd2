"""The run folder's on-disk contract: its files, lock, records, writer and resume."""
