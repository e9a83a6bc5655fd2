"""Composing Hydra's config and validating it, once, into typed objects."""
