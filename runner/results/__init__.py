"""What a run adds up to: the summary, scores, exit status, export and merge."""
