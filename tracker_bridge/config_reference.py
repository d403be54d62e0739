"""Generates the configuration reference (a Markdown table) from the settings model itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tracker_bridge.config import ENV_PREFIX, Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pydantic.fields import FieldInfo

BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


def _rows(model: type[BaseModel], prefix: tuple[str, ...]) -> Iterator[tuple[str, str, str, str]]:
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        nested = _nested_model(info)
        if nested is not None:
            yield from _rows(nested, path)
            continue
        default = _default(info)
        env = ENV_PREFIX + "__".join(part.upper() for part in path)
        yield ".".join(path), default, env, info.description or ""


def _nested_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation: Any = info.annotation
    candidates = getattr(annotation, "__args__", (annotation,))
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    return f"`{getattr(value, 'value', value)}`"


def reference_table() -> str:
    """The Markdown table of every setting, its default, its environment variable and meaning."""
    lines = [
        "| key | default | environment | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for key, default, env, description in _rows(Settings, ()):
        lines.append(f"| `{key}` | {default} | `{env}` | {description} |")
    lines.append(
        "| `tracker.<kind>.*` | per plugin | `TRACKER_BRIDGE_TRACKER__<KIND>__<KEY>` | "
        "the plugin's own settings, see adapters/<kind>/README.md |"
    )
    return "\n".join(lines)
