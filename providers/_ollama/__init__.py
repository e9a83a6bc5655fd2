"""Ollama's native API beyond the provider module: ``/api/generate``, its options and its line stream."""
