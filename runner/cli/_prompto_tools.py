"""prompto's other commands, under their names and flags: ``prompto_create_judge_file``,
``prompto_obtain_missing_jsonl``, ``prompto_upload_media`` and ``prompto_convert_images``.

Each does what prompto's does, with prompto's flag names and those its documentation uses
(``--experiment-file``, ``--judge-location``; ``--input-experiment``, ``--output-experiment``,
``--missing-results``), and the documentation's command names ``prompto_create_judge`` and
``prompto_obtain_missing_results`` are the same commands. A mistake is said once, exit status 2.

* ``prompto_create_judge_file -i COMPLETED -l JUDGE_FOLDER -j JUDGE[,...] [-t T.txt,...] [-o OUT]``:
  prompto's judge file, ``OUT/judge-<name without "completed-">``: for each judge, template and
  response, ``{id: judge-J-T-ID, template_name, prompt}`` with the judge's settings and the response's
  keys as ``input-KEY``, the template filled as prompto fills it (``str.format`` of ``{INPUT_PROMPT}``
  and ``{OUTPUT_RESPONSE}``).
* ``prompto_obtain_missing_jsonl -i INPUT -o OUTPUT -n NEW [--id KEY]``: appends to NEW each line of
  INPUT whose id no line of OUTPUT has (ids compared as values: ``1`` and ``1.0`` are one id).
* ``prompto_upload_media upload -f FILE -m MEDIA_FOLDER [-o OUT] [-w]`` (or ``-d DATA_FOLDER``, whose
  ``media/`` is used), ``list``, ``delete --confirm-delete-all``: Gemini's Files API
  (:mod:`providers._google.gemini_files`). Each media part of a Gemini prompt is uploaded once (a file with
  the same SHA-256 already there is reused) and gets prompto's ``uploaded_filename`` (``files/…``)
  and ``uploaded_uri``; such a part is then sent as ``fileData.fileUri``, not inline.
* ``prompto_convert_images [-f FOLDER]``: every ``.jpg``/``.jpeg``/``.png`` of FOLDER re-saved as RGB
  in its own format, with Pillow (the ``images`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from providers._google.gemini_files import FilesApiError, GeminiFiles, RemoteFile, file_sha256
from runner.cli._exit import exit_status
from runner.config._errors import UserError
from runner.results._exit_status import ExitStatus


class ToolError(UserError):
    """A mistake in a prompto tool's arguments or files."""


def _list_arg(text: str) -> list[str]:
    """prompto's ``parse_list_arg``: split on commas, spaces removed, repeats dropped (first kept)."""
    items = [item for item in text.replace(" ", "").split(",") if item]
    return list(dict.fromkeys(items))


def _json_lines(path: Path, what: str) -> Iterator[tuple[int, str, Any]]:
    """``(line number, raw line, value or None if not JSON)`` of every non-blank line of ``path``."""
    try:
        file = path.open(encoding="utf-8")
    except OSError as exc:
        raise ToolError(f"{what} '{path}' cannot be read: {exc.strerror or exc}") from None
    with file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                value = None
            yield number, line, value


# --- prompto_create_judge_file --------------------------------------------------------------------


def create_judge_file_main(argv: Sequence[str] | None = None, prog: str = "prompto_create_judge_file") -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Make prompto's judge file from a completed file."
    )
    parser.add_argument(
        "--input-file", "-i", "--experiment-file", dest="input_file", type=Path, required=True,
        help="the completed file whose responses are judged",
    )  # fmt: skip
    parser.add_argument(
        "--judge-folder", "-l", "-jf", "--judge-location", dest="judge_folder", type=Path, required=True,
        help="folder with settings.json and the template files",
    )  # fmt: skip
    parser.add_argument(
        "--templates", "-t", "--judge-templates", "-jt", dest="templates", default="template.txt",
        help="template files of the judge folder, comma-separated (default template.txt)",
    )  # fmt: skip
    parser.add_argument("--judge", "-j", required=True, help="judges of settings.json, comma-separated")
    parser.add_argument("--output-folder", "-o", type=Path, default=Path("./"), help="where to write it")
    args = parser.parse_args(argv)
    return exit_status(prog, lambda: _create_judge_file(args))


def _create_judge_file(args: argparse.Namespace) -> int:
    templates = _judge_templates(args.judge_folder, _list_arg(args.templates))
    settings = _judge_settings(args.judge_folder)
    judges = _list_arg(args.judge)
    for judge in judges:
        if judge not in settings:
            raise ToolError(f"--judge: '{judge}' is not a key of {args.judge_folder / 'settings.json'}")
    responses = []
    for number, _, value in _json_lines(args.input_file, "--input-file"):
        if not isinstance(value, dict):
            raise ToolError(f"--input-file: line {number} of {args.input_file} is not a JSON object")
        for key in ("prompt", "response"):
            if key not in value:
                raise ToolError(f"--input-file: line {number} of {args.input_file} has no '{key}' to judge")
        responses.append(value)
    name = args.input_file.name.replace("completed-", "")
    out_path = args.output_folder / f"judge-{name}"
    if out_path.suffix != ".jsonl":
        raise ToolError(f"the judge file must end in .jsonl: '{out_path}' (from --input-file's name)")
    written = 0
    with out_path.open("w", encoding="utf-8") as out:
        for judge in judges:
            for template_name, template in templates.items():
                for response in responses:
                    out.write(
                        json.dumps(_judge_input(judge, template_name, template, settings[judge], response))
                    )
                    out.write("\n")
                    written += 1
    print(f"wrote {written:,} judge prompts to {out_path}")
    return int(ExitStatus.OK)


def _judge_input(
    judge: str, template_name: str, template: str, settings: dict[str, Any], response: dict[str, Any]
) -> dict[str, Any]:
    try:
        prompt = template.format(INPUT_PROMPT=response["prompt"], OUTPUT_RESPONSE=response["response"])
    except (KeyError, IndexError, ValueError) as exc:
        raise ToolError(
            f"template '{template_name}': {exc!r} cannot be filled (prompto fills only {{INPUT_PROMPT}} "
            "and {OUTPUT_RESPONSE}; write other braces doubled, {{ and }})"
        ) from None
    return (
        {"id": f"judge-{judge}-{template_name}-{response.get('id', 'NA')!s}", "template_name": template_name}
        | {"prompt": prompt}
        | settings
        | {f"input-{key}": value for key, value in response.items()}
    )


def _judge_templates(folder: Path, names: list[str]) -> dict[str, str]:
    if not folder.is_dir():
        raise ToolError(f"--judge-folder: '{folder}' is not a folder")
    templates = {}
    for name in names:
        path = folder / name
        if not name.endswith(".txt"):
            raise ToolError(f"--templates: template file '{path}' must end with '.txt'")
        try:
            templates[name.split(".")[0]] = path.read_text(encoding="utf-8")
        except OSError:
            raise ToolError(f"--templates: template file '{path}' does not exist") from None
    return templates


def _judge_settings(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / "settings.json"
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ToolError(f"--judge-folder: judge settings file '{path}' does not exist") from None
    except ValueError as exc:
        raise ToolError(f"--judge-folder: '{path}' is not valid JSON: {exc}") from None
    if not isinstance(settings, dict):
        raise ToolError(f"--judge-folder: '{path}' must hold an object of judge name → settings")
    for judge, entry in settings.items():  # prompto checks every judge of the file
        if not isinstance(entry, dict):
            raise ToolError(f"{path}: the value of judge '{judge}' must be an object")
        for key in ("api", "model_name", "parameters"):
            if key not in entry:
                raise ToolError(f"{path}: judge '{judge}' has no '{key}' key (prompto needs all three)")
        if not isinstance(entry["parameters"], dict):
            raise ToolError(f"{path}: judge '{judge}': 'parameters' must be an object")
    return settings


# --- prompto_obtain_missing_jsonl -----------------------------------------------------------------


def obtain_missing_jsonl_main(
    argv: Sequence[str] | None = None, prog: str = "prompto_obtain_missing_jsonl"
) -> int:
    parser = argparse.ArgumentParser(
        prog=prog, description="Write the prompts of INPUT that OUTPUT has no result for to NEW."
    )
    parser.add_argument(
        "--input", "-i", "--input-experiment", dest="input", type=Path, required=True,
        help="the experiment file (JSONL) with every prompt",
    )  # fmt: skip
    parser.add_argument(
        "--output", "-o", "--output-experiment", dest="output", type=Path, required=True,
        help="the completed file (JSONL) with the results so far",
    )  # fmt: skip
    parser.add_argument(
        "--new", "-n", "--missing-results", dest="new", type=Path, required=True,
        help="the JSONL file the missing prompts are appended to",
    )  # fmt: skip
    parser.add_argument("--id", default="id", help="the name of the id key (default id)")
    args = parser.parse_args(argv)
    return exit_status(prog, lambda: _obtain_missing(args.input, args.output, args.new, args.id))


def _id_key(value: Any) -> Any:
    """An id as a set member: itself (``1 == 1.0``, as prompto's list lookup has it), or its JSON."""
    try:
        hash(value)
    except TypeError:
        return ("json", json.dumps(value, sort_keys=True))
    return value


def _obtain_missing(input_file: Path, output_file: Path, new_file: Path, id_name: str) -> int:
    done = set()
    for _, line, value in _json_lines(output_file, "--output"):
        if isinstance(value, dict) and id_name in value:
            done.add(_id_key(value[id_name]))
        else:
            print(f"Error reading line: {line.rstrip(chr(10))}")
    added = 0
    with _append_lines(new_file) as append:
        for number, line, value in _json_lines(input_file, "--input"):
            if not isinstance(value, dict):
                raise ToolError(f"--input: line {number} of {input_file} is not a JSON object")
            if id_name not in value:
                raise ToolError(f"--input: line {number} of {input_file} has no '{id_name}' key (see --id)")
            if _id_key(value[id_name]) not in done:
                append(line if line.endswith("\n") else line + "\n")
                added += 1
    print("No missing prompts found" if added == 0 else f"Added {added} missing prompts to {new_file}")
    return int(ExitStatus.OK)


class _append_lines:  # a context manager, named like open()
    """Opens ``path`` for appending on the first line only, as prompto creates NEW only when needed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: Any = None

    def __enter__(self) -> Callable[[str], None]:
        return self._write

    def _write(self, line: str) -> None:
        if self.file is None:
            try:
                self.file = self.path.open("a", encoding="utf-8")
            except OSError as exc:
                raise ToolError(f"--new: '{self.path}' cannot be written: {exc.strerror or exc}") from None
        self.file.write(line)

    def __exit__(self, *_: object) -> None:
        if self.file is not None:
            self.file.close()


# --- prompto_upload_media -------------------------------------------------------------------------


def upload_media_main(argv: Sequence[str] | None = None, prog: str = "prompto_upload_media") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Gemini's Files API: upload media once.")
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="upload a file's media and write the file with their names")
    upload.add_argument("--file", "-f", type=Path, required=True, help="the experiment file (JSONL)")
    folder = upload.add_mutually_exclusive_group(required=True)
    folder.add_argument("--media-folder", "-m", type=Path, help="the folder the media names are relative to")
    folder.add_argument("--data-folder", "-d", type=Path, help="the data folder (its media/ folder is used)")
    upload.add_argument("--output-file", "-o", type=Path, help="default: FILE's name with _uploaded")
    upload.add_argument("--overwrite-output", "-w", action="store_true", help="replace OUTPUT_FILE")
    delete = commands.add_parser("delete", help="delete every file uploaded with the key")
    delete.add_argument("--confirm-delete-all", action="store_true", required=True, help="yes, all of them")
    commands.add_parser("list", help="list the files uploaded with the key")
    for sub in commands.choices.values():
        sub.add_argument("--env-file", "-e", type=Path, default=Path(".env"), help="file with GEMINI_API_KEY")
    args = parser.parse_args(argv)
    return exit_status(prog, lambda: _upload_media(args))


def _upload_media(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    if args.env_file.is_file():
        environ = {**{k: v for k, v in dotenv_values(args.env_file).items() if v is not None}, **environ}
    try:
        with GeminiFiles.from_environ(environ) as files:
            if args.command == "list":
                for remote in files.list_files():
                    print(f"File Hash: {remote.sha256_hex}, File Name: {remote.name}")
                print("All uploaded files listed.")
            elif args.command == "delete":
                for remote in list(files.list_files()):
                    print(f"Deleting file: {remote.name}")
                    files.delete(remote.name)
                print("All uploaded files deleted.")
            else:
                _upload_experiment_media(args, files)
    except FilesApiError as exc:
        raise ToolError(str(exc)) from None
    return int(ExitStatus.OK)


def _media_parts(prompt_dict: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The media parts (dicts with ``media``) of a history prompt's ``parts`` or ``content`` lists."""
    prompt = prompt_dict.get("prompt")
    if not isinstance(prompt, list):
        return
    for turn in prompt:
        if not isinstance(turn, dict):
            continue
        for key in ("parts", "content"):
            parts = turn.get(key)
            for part in parts if isinstance(parts, list) else [parts] if isinstance(parts, dict) else []:
                if (
                    isinstance(part, dict)
                    and isinstance(part.get("media"), str)
                    and part.get("type") != "text"
                ):
                    yield part


def _upload_experiment_media(args: argparse.Namespace, files: GeminiFiles) -> None:
    media_folder: Path = args.media_folder if args.media_folder is not None else args.data_folder / "media"
    output: Path = args.output_file or args.file.with_name(f"{args.file.stem}_uploaded.jsonl")
    if output.exists() and not args.overwrite_output:
        raise ToolError(
            f"output file {output} already exists: use --overwrite-output (-w) to replace it, or "
            "--output-file to write another"
        )
    prompt_dicts: list[dict[str, Any]] = []
    wanted: dict[Path, str | None] = {}
    skipped = 0
    for number, _, value in _json_lines(args.file, "--file"):
        if not isinstance(value, dict):
            raise ToolError(f"--file: line {number} of {args.file} is not a JSON object")
        prompt_dicts.append(value)
        parts = list(_media_parts(value))
        if parts and value.get("api") != "gemini":
            skipped += 1  # prompto uploads for Gemini only; the other APIs' media stay inline
            continue
        for part in parts:
            path = media_folder / part["media"]
            if not path.is_file():
                raise ToolError(
                    f"--file: line {number} names media '{part['media']}', not found in {media_folder}"
                )
            wanted.setdefault(path, part.get("mime_type"))
    uploaded = _upload_all(files, wanted)
    for value in prompt_dicts:
        if value.get("api") == "gemini":
            for part in _media_parts(value):
                remote = uploaded[media_folder / part["media"]]
                part["uploaded_filename"], part["uploaded_uri"] = remote.name, remote.uri
    with output.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(value) + "\n" for value in prompt_dicts)
    note = f"; {skipped} lines with media for other APIs left as they were" if skipped else ""
    print(f"All files uploaded ({len(uploaded)} media files). Wrote {output}{note}")


def _upload_all(files: GeminiFiles, wanted: dict[Path, str | None]) -> dict[Path, RemoteFile]:
    if not wanted:
        return {}
    by_hash = {remote.sha256_hex: remote for remote in files.list_files() if remote.state == "ACTIVE"}
    print(f"Found {len(by_hash)} files already uploaded")
    uploaded = {}
    for path, mime_type in wanted.items():
        digest = file_sha256(path)
        if digest not in by_hash:
            print(f"Uploading {path}")
            by_hash[digest] = files.upload(path, mime_type)
        uploaded[path] = by_hash[digest]
        print(f"Uploaded {path} as {uploaded[path].name}")
    return uploaded


# --- prompto_convert_images -----------------------------------------------------------------------


def convert_images_main(argv: Sequence[str] | None = None, prog: str = "prompto_convert_images") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Re-save a folder's JPEG and PNG images as RGB.")
    parser.add_argument("--folder", "-f", type=Path, default=Path("."), help="folder with media files")
    args = parser.parse_args(argv)
    return exit_status(prog, lambda: _convert_images(args.folder))


def _convert_images(folder: Path) -> int:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ToolError(
            "converting images needs Pillow, in the images extra: pip install 'prompto-run[images]'"
        ) from None
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ToolError(f"--folder: '{folder}' cannot be listed: {exc.strerror or exc}") from None
    failed = []
    for name in names:
        path = folder / name
        kind = (
            "JPEG"
            if name.lower().endswith((".jpg", ".jpeg"))
            else "PNG"
            if name.lower().endswith(".png")
            else None
        )
        if kind is None or not path.is_file():
            print(f"Skipping {path} as it is not a supported file type")
            continue
        try:
            with Image.open(path) as image:
                converted = image.convert("RGB")
            converted.save(path, kind)
        except (OSError, UnidentifiedImageError) as exc:
            failed.append(f"{path}: {exc}")
    if failed:
        raise ToolError(f"{len(failed)} images could not be converted:\n  " + "\n  ".join(failed))
    print("Finished converting images")
    return int(ExitStatus.OK)


# --- entry points ---------------------------------------------------------------------------------


def create_judge_file() -> None:
    sys.exit(create_judge_file_main())


def create_judge() -> None:
    sys.exit(create_judge_file_main(prog="prompto_create_judge"))


def obtain_missing_jsonl() -> None:
    sys.exit(obtain_missing_jsonl_main())


def obtain_missing_results() -> None:
    sys.exit(obtain_missing_jsonl_main(prog="prompto_obtain_missing_results"))


def upload_media() -> None:
    sys.exit(upload_media_main())


def convert_images() -> None:
    sys.exit(convert_images_main())
