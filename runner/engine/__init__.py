"""Sending: queues, pacing, retries, the response cache and the run's providers."""
