"""The evidence-bundle file format (pure): one text file per tool call, a JSON header line, then the output.

    {"tool": "kubectl_describe", "params": {"kind": "pod", "name": "api-7d9f", "namespace": "shop"}}
    Name:         api-7d9f
    ...

Files are named `NN-<tool>.txt` in call order. The I/O (directories, archives) lives in
adapters/context/bundle.py and the API's export; both write through `bundle_header`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from domain.diagnosis import ToolResult


def bundle_header(result: ToolResult) -> str:
    """The first line of a bundle file: `{"tool", "params"}`, plus `ok`/`truncated` only when they apply."""
    header: dict[str, Any] = {"tool": result.tool.value, "params": dict(result.params)}
    # Extensions of the convention, written only when they differ from the defaults so a plain bundle
    # stays exactly {"tool", "params"}.
    if not result.ok:
        header["ok"] = False
    if result.truncated:
        header["truncated"] = True
    # ensure_ascii keeps the header on one line whatever the params hold (newlines, separators).
    return json.dumps(header, ensure_ascii=True)


def bundle_files(results: Sequence[ToolResult]) -> list[tuple[str, str]]:
    """(file name, file text) for each tool result, in call order."""
    width = max(2, len(str(len(results))))
    return [
        (f"{index:0{width}d}-{result.tool.value}.txt", f"{bundle_header(result)}\n{result.output}")
        for index, result in enumerate(results, start=1)
    ]
