"""Google's ``generateContent`` protocol, shared by ``gemini`` and ``vertexai``: the provider base
(:mod:`~providers._google.base`), its features, replies, streams, errors, and Gemini's file uploads."""
