"""``python -m tests.providers.llama_server ARGS``: llama-cpp-python's server, loading its model the
way :mod:`providers._llamacpp.model` does (without llama.cpp's AMX kernels, which crash on this model).

Arguments are the server's own (``--model``, ``--port``...).
"""

import runpy

import llama_cpp

from providers._llamacpp.model import without_extra_buffer_types

if __name__ == "__main__":
    with without_extra_buffer_types(llama_cpp):
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
