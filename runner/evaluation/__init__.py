"""The evaluation stages: scorers, LLM judges and rephrasing."""
