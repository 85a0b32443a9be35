"""The file log backend: the demo's and the tests' logs, one file per stream on disk.

Layout: `<dir>/<namespace>/<stream>.log`, where the stream is a service (`checkout.log`) or a pod
(`checkout-7d9f8-x2x4q.log`). A line is either `<ISO timestamp> <message>` or a JSON object with a
time (`ts`/`time`/`timestamp`/`@timestamp`), a message (`msg`/`message`/`log`) and optional labels
(a `labels` object and any other scalar keys). A line that starts with neither (a stack trace's
continuation) belongs to the entry above it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.logs.base import LogBackendError, LogLine, LogQuery, newest, parse_timestamp, stream_source, text_value
from domain.settings import Settings

TIME_KEYS = ("ts", "time", "timestamp", "@timestamp")
MESSAGE_KEYS = ("msg", "message", "log")
SUFFIX = ".log"
ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


class FileLogBackend:
    """Reads `<dir>/<namespace>/<stream>.log` files."""

    slug = "file"

    def __init__(self, *, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def from_settings(cls, settings: Settings) -> FileLogBackend:
        """The backend for AI_SRE_LOG_FILE_DIR (default `<data_dir>/logs-demo`)."""
        return cls(directory=settings.log_file_dir or settings.data_dir / "logs-demo")

    async def fetch(self, query: LogQuery) -> list[LogLine]:
        """The newest matching lines across the stream files, oldest first."""
        # File reads block; keep them off the event loop (the worker's activities share it).
        return await asyncio.to_thread(self._fetch, query)

    async def health(self) -> None:
        """The directory exists and can be listed and read."""
        await asyncio.to_thread(self._check_directory)

    def _check_directory(self) -> None:
        path = self.directory
        if not path.exists():
            raise LogBackendError(f"file log backend: directory {path} does not exist (AI_SRE_LOG_FILE_DIR)")
        if not path.is_dir():
            raise LogBackendError(f"file log backend: {path} is not a directory (AI_SRE_LOG_FILE_DIR)")
        if not os.access(path, os.R_OK | os.X_OK):
            raise LogBackendError(f"file log backend: directory {path} is not readable by this process")

    def _fetch(self, query: LogQuery) -> list[LogLine]:
        self._check_directory()
        kept: list[LogLine] = []
        for namespace, path in self._streams(query):
            matches: deque[LogLine] = deque(maxlen=query.limit)
            try:
                with path.open(encoding="utf-8", errors="replace") as handle:
                    for line in _entries(handle, namespace=namespace, stream=path.stem):
                        if _matches(line, query, stream=path.stem):
                            matches.append(line)
            except OSError as exc:
                raise LogBackendError(f"file log backend: cannot read {path}: {exc.strerror or exc}") from None
            kept.extend(matches)
        return newest(kept, query.limit)

    def _streams(self, query: LogQuery) -> Iterator[tuple[str | None, Path]]:
        if query.namespace is not None:
            folder = self.directory / query.namespace
            # A namespace is one path segment; anything else could walk out of the directory.
            if "/" in query.namespace or "\\" in query.namespace or query.namespace in {".", ".."}:
                return
            candidates: list[tuple[str | None, Path]] = [(query.namespace, folder)] if folder.is_dir() else []
        else:
            candidates = [(None, self.directory)]
            candidates += [(child.name, child) for child in sorted(self.directory.iterdir()) if child.is_dir()]
        for namespace, folder in candidates:
            for path in sorted(folder.glob(f"*{SUFFIX}")):
                if path.is_file() and _stream_may_match(path.stem, query):
                    yield namespace, path


def _stream_may_match(stream: str, query: LogQuery) -> bool:
    # A file named after the service holds its pods' lines; one named after a pod holds that pod's.
    # Lines that carry their own pod/service labels are checked again in _matches.
    if query.pod is not None and not (stream == query.pod or query.pod.startswith(stream + "-")):
        return False
    return query.service is None or stream == query.service or stream.startswith(query.service + "-")


def _matches(line: LogLine, query: LogQuery, *, stream: str) -> bool:
    if not query.start <= line.at <= query.end:
        return False
    labels = line.labels
    if query.pod is not None and "pod" in labels and labels["pod"] != query.pod:
        return False
    if query.container is not None and "container" in labels and labels["container"] != query.container:
        return False
    if query.service is not None:
        named = [labels[key] for key in ("service", "app") if key in labels]
        if named and query.service not in named:
            return False
    return query.text is None or query.text.casefold() in line.message.casefold()


def _entries(handle: Any, *, namespace: str | None, stream: str) -> Iterator[LogLine]:
    previous: LogLine | None = None
    for raw in handle:
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        parsed = _parse_json(text) if text.lstrip().startswith("{") else None
        if parsed is None:
            parsed = _parse_plain(text)
        if parsed is None:
            if previous is not None:
                # A continuation line: same time and stream as its entry, so stable sorting keeps it in place.
                yield previous.model_copy(update={"message": text})
            continue
        at, message, labels = parsed
        ns = labels.get("namespace") or namespace
        if ns is not None:
            labels.setdefault("namespace", ns)
        source = stream_source(
            namespace=ns, pod=labels.get("pod") or stream, container=labels.get("container"), service=None
        )
        previous = LogLine(at=at, message=message, labels=labels, source=source)
        yield previous


def _parse_plain(text: str) -> tuple[datetime, str, dict[str, str]] | None:
    # Only ISO 8601 starts an entry: a bare number at the start of a line is more likely log content.
    if not ISO_START.match(text):
        return None
    head, _, rest = text.partition(" ")
    if len(head) == 10:  # `2026-11-28 10:00:01.123 message`
        clock, _, rest = rest.partition(" ")
        head = f"{head}T{clock}"
    at = parse_timestamp(head)
    if at is None:
        return None
    return at, rest, {}


def _parse_json(text: str) -> tuple[datetime, str, dict[str, str]] | None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    at = next((parse_timestamp(document[k]) for k in TIME_KEYS if k in document), None)
    if at is None:
        return None
    message = next((document[k] for k in MESSAGE_KEYS if isinstance(document.get(k), str)), None)
    if message is None:
        message = json.dumps({k: v for k, v in document.items() if k not in TIME_KEYS}, sort_keys=True)
    labels: dict[str, str] = {}
    for key, value in document.items():
        if key in TIME_KEYS or key in MESSAGE_KEYS or key == "labels":
            continue
        label = text_value(value)
        if label is not None:
            labels[key] = label
    extra = document.get("labels")
    if isinstance(extra, dict):
        for key, value in extra.items():
            label = text_value(value)
            if label is not None:
                labels[str(key)] = label
    return at, message, labels
