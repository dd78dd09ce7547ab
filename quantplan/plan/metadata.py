"""The plan's metadata records: the generator, the model and its capture, the normalized config."""

from __future__ import annotations

import attrs

from quantplan.plan._converters import int_tuple, json_data

__all__ = ["CaptureMeta", "ConfigMeta", "GeneratorMeta", "ModelMeta"]


@attrs.frozen
class GeneratorMeta:
    """The program that wrote the plan."""

    name: str = "quantplan"
    version: str = attrs.field(factory=lambda: __import__("quantplan").__version__)


@attrs.frozen
class CaptureMeta:
    """Capture record: mode, capture method and the shape specializations made while capturing."""

    mode: str
    method: str
    specializations: tuple[str, ...] = attrs.field(default=(), converter=int_tuple)


@attrs.frozen
class ModelMeta:
    """The model the plan was made for. `class_name` is the JSON field `class`.

    `inputs` is the example-input signature; `fingerprint` the structure fingerprint
    (`sha256:<hex>`) that apply checks before it changes anything.
    """

    class_name: str
    execution_mode: str
    torch: str
    inputs: dict = attrs.field(converter=json_data)
    fingerprint: str
    capture: CaptureMeta | None = None


@attrs.frozen
class ConfigMeta:
    """The normalized config (every default written out) and its fingerprint."""

    fingerprint: str
    normalized: dict = attrs.field(converter=json_data)
