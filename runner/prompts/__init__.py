"""Reading prompt files, resolving each prompt, and the validation pass that plans the queues."""
