"""Every request body ``gemini`` and ``vertexai`` build, for each prompt form and parameter the README
documents and each neutral feature, conforms to the vendor's own request schema (closed objects: a
field the API does not define fails here, not in a user's run). The schemas:
:mod:`tests.providers.specs_google`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from providers import ChatRequest, Message, Provider
from providers._google.base import GenerateContentProvider
from providers.gemini import GeminiProvider
from runner.prompts._conversation import parse_prompt
from tests.providers.conftest import MakeProvider
from tests.providers.specs_google import gemini_request_validator, problems, vertex_request_validator

GEMINI_25, GEMINI_3 = "gemini-2.5-flash", "gemini-3-flash-preview"
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLIP = {"startOffset": "10s", "endOffset": "40s", "fps": 1}

PROMPTS: dict[str, Any] = {
    "string": "Hello",
    "list of strings (first turn)": ["Hi", "How are you?"],
    "chat with system": [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "How are you?"},
    ],
    "image url with OpenAI's detail": [
        {
            "role": "user",
            "content": [
                "What is this?",
                {"type": "image", "url": "https://example.com/cat.jpg", "detail": "low"},
            ],
        }
    ],
    "video url with videoMetadata": [
        {
            "role": "user",
            "content": [
                {"type": "video", "url": "https://www.youtube.com/watch?v=abc", "videoMetadata": CLIP},
                "Describe the clip.",
            ],
        }
    ],
    "local video with video_metadata": [
        {
            "role": "user",
            "content": [{"type": "video", "media": "clip.mp4", "video_metadata": CLIP}, "And this?"],
        }
    ],
    "gs:// video": [{"role": "user", "content": [{"type": "video", "url": "gs://bucket/clip.mp4"}, "What?"]}],
    "prompto's parts": [
        {
            "role": "user",
            "parts": ["What is this?", {"type": "image", "media": "cat.png", "mime_type": "image/png"}],
        }
    ],
    "prompto's image_url": [
        {"role": "user", "content": [{"type": "image_url", "image_url": "cat.png"}, "What?"]}
    ],
    "anthropic's source": [
        {"role": "user", "content": [{"type": "image", "source": {"media": "cat.png"}}, "What is this?"]}
    ],
    "document and audio": [
        {
            "role": "user",
            "content": [
                {"type": "document", "media": "paper.pdf", "mime_type": "application/pdf"},
                {"type": "audio", "media": "note.mp3", "mime_type": "audio/mpeg"},
                "Summarise both.",
            ],
        }
    ],
}
TYPICAL = {
    "temperature": 0.2,
    "top_p": 0.95,
    "top_k": 40,
    "max_output_tokens": 512,
    "stop_sequences": ["END"],
    "seed": 7,
    "candidate_count": 1,
    "presence_penalty": 0.1,
    "frequency_penalty": 0.1,
    "response_mime_type": "text/plain",
}
PARAMETERS: dict[str, dict[str, Any]] = {
    "none": {},
    "typical": TYPICAL,
    "safety filter, cached content, nested generation_config": {
        "safety_filter": "few",
        "cached_content": "cachedContents/abc",
        "generation_config": {"thinking_config": {"thinking_budget": 0}, "response_logprobs": True},
    },
    "Google's own tools": {"tools": [{"googleSearch": {}}, {"codeExecution": {}}, {"url_context": {}}]},
    "reasoning budget": {"reasoning": {"budget_tokens": 2048}, "max_output_tokens": 4096},
    "reasoning effort": {"reasoning": {"effort": "low"}},
    "response_schema": {"response_schema": SCHEMA, "temperature": 0},
    "tools, auto": {"tools": [WEATHER], "tool_choice": "auto"},
    "tools, required": {"tools": [WEATHER], "tool_choice": "required"},
    "tools, none": {"tools": [WEATHER], "tool_choice": "none"},
    "tools, named, with Google's own": {
        "tools": [WEATHER, {"googleSearch": {}}],
        "tool_choice": "get_weather",
    },
    "stream": {"stream": True, **TYPICAL},
    "everything": {
        **{name: value for name, value in TYPICAL.items() if name != "response_mime_type"},
        "reasoning": {"effort": "high"},
        "response_schema": SCHEMA,
        "tools": [WEATHER],
        "stream": True,
    },
}


@pytest.fixture
def data_media(media_dir: Path) -> Path:
    (media_dir / "paper.pdf").write_bytes(b"%PDF-1.4 fake")
    (media_dir / "note.mp3").write_bytes(b"ID3 fake audio")
    return media_dir


@pytest.fixture(params=["gemini", "vertexai"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def build(make_provider: MakeProvider, api: str, model: str) -> Provider:
    env = {"GEMINI_API_KEY": "k", "VERTEXAI_ACCESS_TOKEN": "t", "VERTEXAI_PROJECT_ID": "p"}
    return make_provider(api, model, env=env)


def validator(api: str) -> Draft202012Validator:
    return gemini_request_validator() if api == "gemini" else vertex_request_validator()


async def body_of(provider: Provider, request: ChatRequest) -> dict[str, Any]:
    assert isinstance(provider, GenerateContentProvider)
    assert provider.check_request(request) == []
    return await provider.request_body(request)


@pytest.mark.parametrize("model", [GEMINI_25, GEMINI_3])
@pytest.mark.parametrize("parameters", PARAMETERS.values(), ids=PARAMETERS.keys())
@pytest.mark.parametrize("prompt", PROMPTS.values(), ids=PROMPTS.keys())
async def test_every_prompt_form_and_parameter_conforms(
    make_provider: MakeProvider,
    api: str,
    data_media: Path,
    prompt: Any,
    parameters: dict[str, Any],
    model: str,
) -> None:
    request = parse_prompt(prompt, data_media).first_request(model, parameters)
    body = await body_of(build(make_provider, api, model), request)
    assert problems(validator(api), body) == []


async def test_later_turns_of_a_list_of_strings_conform(make_provider: MakeProvider, api: str) -> None:
    """The engine sends turn n with the replies so far, as user/model turns."""
    history = (Message("user", "Hi"), Message("assistant", "Hello."), Message("user", "How are you?"))
    body = await body_of(build(make_provider, api, GEMINI_25), ChatRequest(GEMINI_25, history, TYPICAL))
    assert problems(validator(api), body) == []


async def test_vertex_labels_and_media_resolution_conform(
    make_provider: MakeProvider, media_dir: Path
) -> None:
    prompt = [
        {
            "role": "user",
            "content": [
                {"type": "image", "media": "cat.png", "mediaResolution": {"level": "MEDIA_RESOLUTION_LOW"}}
            ],
        }
    ]
    request = parse_prompt(prompt, media_dir).first_request(GEMINI_25, {"labels": {"study": "s1"}})
    body = await body_of(build(make_provider, "vertexai", GEMINI_25), request)
    assert body["contents"][0]["parts"][0]["mediaResolution"] == {"level": "MEDIA_RESOLUTION_LOW"}
    assert problems(vertex_request_validator(), body) == []


def test_labels_are_refused_for_the_gemini_api() -> None:
    """``GenerateContentRequest`` of the Gemini API has no ``labels`` (Vertex's has)."""
    request = ChatRequest(GEMINI_25, (Message("user", "Hi"),), {"labels": {"study": "s1"}})
    assert GeminiProvider.check_request(request) == [
        "labels is a Vertex AI field (api: vertexai): the Gemini API's request has none"
    ]
    assert "labels" not in gemini_request_validator().schema["$defs"]["GenerateContentRequest"]["properties"]


async def test_media_resolution_is_not_a_gemini_api_part_field(
    make_provider: MakeProvider, media_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The Gemini API's ``Part`` (v1beta protos) has no ``mediaResolution``: dropped, with a notice."""
    prompt = [
        {
            "role": "user",
            "content": [{"type": "image", "media": "cat.png", "mediaResolution": {"level": "X"}}],
        }
    ]
    request = parse_prompt(prompt, media_dir).first_request(GEMINI_25, {})
    with caplog.at_level(logging.WARNING, logger="prompto_run"):
        body = await body_of(build(make_provider, "gemini", GEMINI_25), request)
    assert "mediaResolution" not in body["contents"][0]["parts"][0]
    assert problems(gemini_request_validator(), body) == []
    assert "'mediaResolution'" in caplog.text


def test_the_validators_refuse_what_the_apis_refuse() -> None:
    """A green run means something: an unknown field anywhere fails validation."""
    body = {
        "contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "x"}, "detail": "low"}]}],
        "generationConfig": {"maxTokens": 5, "thinkingConfig": {"budget": 3}},
        "reasoning": {"effort": "low"},
    }
    for check in (gemini_request_validator(), vertex_request_validator()):
        found = problems(check, body)
        assert any("'detail' was unexpected" in line for line in found)
        assert any("'maxTokens' was unexpected" in line for line in found)
        assert any("'budget' was unexpected" in line for line in found)
        assert any("'reasoning' was unexpected" in line for line in found)
