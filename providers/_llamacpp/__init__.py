"""The in-process llama.cpp model beyond the provider module: the loaded model and its features."""
