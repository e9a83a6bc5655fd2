"""Anthropic's Messages API beyond the provider module: its features and its event stream."""
