"""OpenAI's wire dialects, shared by every provider that speaks them: Chat Completions
(:mod:`~providers._openai.dialect`, its features, replies and streamed chunks) and the Responses API
(:mod:`~providers._openai.responses`), used by ``openai``, ``azure-openai``, ``openai-compatible`` and
``huggingface-tgi``."""
