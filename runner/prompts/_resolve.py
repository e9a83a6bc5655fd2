"""One prompt dict, resolved: its api and model (defaults applied), parameters, conversation and queue.

The same function serves the validation pass (which collects its errors with line numbers) and the
run (which resolves each prompt again as its queue reaches it, so nothing holds every prompt).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from providers import Provider, UnknownApiError, import_target, provider_class
from runner.config._config import RunConfig
from runner.prompts._conversation import Conversation, PromptError, parse_prompt
from runner.prompts._routing import QueueKey, queue_key
from runner.prompts._schemas import with_resolved_schema

PROMPTO_PROMPT_KEYS = frozenset({"safety_filter"})
"""Top-level prompt-dict keys prompto passes to some APIs (see ``Provider.prompt_dict_parameters``)."""


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    """Everything needed to send one prompt and to write its record."""

    data: dict[str, Any]
    """The prompt dict with its effective ``id``, ``api``, ``model_name`` and ``parameters``."""
    api: str
    model_name: str
    parameters: dict[str, Any]
    conversation: Conversation
    queue: QueueKey

    @property
    def id(self) -> str:
        """The prompt's id as a string (ids may be numbers in prompto files)."""
        return str(self.data["id"])


def derived_id(data: dict[str, Any]) -> str:
    """A stable id for a prompt dict that has none: a hash of its content."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "auto-" + hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()[:16]


def resolve_prompt(data: dict[str, Any], config: RunConfig) -> ResolvedPrompt:
    """Apply the experiment's and the model config's defaults and parse the prompt, or raise PromptError."""
    if "prompt" not in data:
        raise PromptError("no 'prompt' key")
    api, model_name, parameters = _effective_target(data, config)
    if not isinstance(parameters, dict):
        raise PromptError(f"'parameters' must be a mapping, not {type(parameters).__name__}")
    group = data.get("group")
    if group is not None and not isinstance(group, str | int):
        raise PromptError("'group' must be a string")
    if PROMPTO_PROMPT_KEYS & data.keys():
        parameters = _with_prompt_dict_parameters(data, config, api, model_name, parameters)
    if "response_schema" in parameters:
        parameters = with_resolved_schema(parameters)
    conversation = parse_prompt(data["prompt"], config.media_folder)
    resolved = {**data, "api": api, "model_name": model_name, "parameters": parameters}
    queue = queue_key(config, api, model_name, None if group is None else str(group))
    return ResolvedPrompt(resolved, api, model_name, parameters, conversation, queue)


def provider_type(config: RunConfig, api: str, model_name: str) -> type[Provider]:
    """The provider class for an api/model: a user's own ``_target_``, else the registry's."""
    target = config.provider_target(api, model_name)
    return import_target(target) if target else provider_class(api)


def _with_prompt_dict_parameters(
    data: dict[str, Any], config: RunConfig, api: str, model_name: str, parameters: dict[str, Any]
) -> dict[str, Any]:
    """prompto's top-level keys this API reads (``safety_filter``), folded into ``parameters``."""
    try:
        accepted = provider_type(config, api, model_name).prompt_dict_parameters
    except (UnknownApiError, ImportError):
        return parameters  # the validation pass reports the api
    folded = {key: data[key] for key in accepted & data.keys() if key not in parameters}
    return {**parameters, **folded} if folded else parameters


def _effective_target(data: dict[str, Any], config: RunConfig) -> tuple[str, str, Any]:
    api, model_name = data.get("api"), data.get("model_name")
    source_api, source_model, source_params = _defaults(config)
    if api is None and model_name is None:
        api, model_name = source_api, source_model
    elif model_name is None and api == source_api:
        model_name = source_model
    if api is None:
        raise PromptError(
            "no 'api': name one in the line, set experiment.api, or choose a model with model=NAME"
        )
    if model_name is None:
        raise PromptError(
            f"no 'model_name' for api '{api}': name one in the line or set experiment.model_name"
        )
    if not isinstance(api, str) or not isinstance(model_name, str):
        raise PromptError("'api' and 'model_name' must be strings")
    same_target = (api, model_name) == (source_api, source_model)
    parameters = data.get("parameters", source_params if same_target else {})
    return api, model_name, parameters


def _defaults(config: RunConfig) -> tuple[str | None, str | None, dict[str, Any]]:
    if config.model is not None:
        return config.model.api, config.model.model_name, config.model.parameters
    experiment = config.experiment
    return experiment.api, experiment.model_name, experiment.parameters
