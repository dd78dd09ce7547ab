"""Converting ruamel.yaml's round-trip objects into plain data, within fixed size limits.

An alias is converted once and the same object is reused, but the config walk visits it at
every use. So the converter counts nodes as if every alias were expanded, and rejects a
document past MAX_NODES ("billion laughs" documents expand to 9**9 nodes from 400 bytes).
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.scalarbool import ScalarBoolean

from quantplan.errors import ConfigError, ErrorDetail, SourcePosition
from quantplan.loading.paths import document_path
from quantplan.loading.positioned import PositionedDict

__all__ = ["MAX_NODES", "YamlConverter", "show_tag"]

# Far above any real config (an estimate: a large one has a few thousand nodes), and low
# enough that validating a document of this size stays within seconds.
MAX_NODES = 100_000

_CORE_PREFIX = "tag:yaml.org,2002:"
_COLLECTION_TAGS = (None, _CORE_PREFIX + "map", _CORE_PREFIX + "seq")
_IN_PROGRESS = -1


def show_tag(tag: str) -> str:
    """Return a tag as written in YAML: `!!python/name:os.system`, not its long form."""
    if tag.startswith(_CORE_PREFIX):
        return "!!" + tag[len(_CORE_PREFIX) :]
    return tag


class YamlConverter:
    """Converter of one parsed document into plain types that keep positions, rejecting tags."""

    def __init__(self, file: str | None, problems: list[ErrorDetail]):
        self.file = file
        self.problems = problems
        self.node_count = 0
        # id(ruamel node) -> (converted value, expanded node count or _IN_PROGRESS)
        self.memo: dict[int, tuple[Any, int]] = {}

    def position(self, line: int, column: int) -> SourcePosition:
        return SourcePosition(self.file, line + 1, column + 1)

    def convert(self, node: Any, path: tuple = (), position: SourcePosition | None = None) -> Any:
        """Convert `node`, reached through the YAML keys `path` and written at `position`."""
        if isinstance(node, CommentedMap | CommentedSeq):
            position = position or self.position(node.lc.line, node.lc.col)
            if id(node) in self.memo:
                return self._reuse(node, path, position)
            if self._tag_problem(getattr(node.tag, "value", None), path, position):
                return None
            return self._collection(node, path)
        self._count(1, None, position)
        if isinstance(node, TaggedScalar):
            return self._tagged_scalar(node, path, position)
        return plain_scalar(node)

    def _collection(self, node: CommentedMap | CommentedSeq, path: tuple) -> Any:
        start = self.node_count
        self._count(1, None, None)
        result: Any = PositionedDict(position=self.position(node.lc.line, node.lc.col))
        if isinstance(node, CommentedSeq):
            result = []
        self.memo[id(node)] = (result, _IN_PROGRESS)
        if isinstance(node, CommentedMap):
            self._fill_mapping(node, result, path)
        else:
            for index, item in enumerate(node):
                location = node.lc.data.get(index)
                item_position = self.position(*location[:2]) if location else None
                result.append(self.convert(item, (*path, index), item_position))
        self.memo[id(node)] = (result, self.node_count - start)
        return result

    def _fill_mapping(self, node: CommentedMap, result: PositionedDict, path: tuple) -> None:
        for key, value in node.items():
            location = node.lc.data.get(key)
            plain_key = plain_scalar(key)
            if isinstance(key, TaggedScalar):
                key_position = self.position(location[0], location[1]) if location else None
                plain_key = self._tagged_scalar(key, (*path, key.value), key_position)
                if plain_key is None:
                    continue
            value_position = None
            if location:
                result.key_positions[plain_key] = self.position(location[0], location[1])
                value_position = self.position(location[2], location[3])
                result.value_positions[plain_key] = value_position
            result[plain_key] = self.convert(value, (*path, plain_key), value_position)

    def _reuse(self, node: Any, path: tuple, position: SourcePosition | None) -> Any:
        result, size = self.memo[id(node)]
        anchor = getattr(node.anchor, "value", None) or "?"
        if size == _IN_PROGRESS:
            raise ConfigError(
                ErrorDetail(
                    path=document_path(path),
                    message=(
                        f"alias *{anchor} is used inside its own anchor &{anchor}; recursive "
                        "YAML structures are not supported. Write the value out instead."
                    ),
                    position=position,
                )
            )
        self._count(size, anchor, position)
        return result

    def _count(self, nodes: int, anchor: str | None, position: SourcePosition | None) -> None:
        self.node_count += nodes
        if self.node_count <= MAX_NODES:
            return
        where = f"in {self.file}" if self.file else "in the YAML text"
        cause = f" after expanding alias *{anchor}" if anchor else ""
        raise ConfigError(
            ErrorDetail(
                path="",
                message=(
                    f"the document {where} has more than {MAX_NODES:,} YAML nodes{cause}; "
                    "a config needs far fewer. Remove repeated aliases of large anchors."
                ),
                position=position,
            )
        )

    def _tag_problem(self, tag: str | None, path: tuple, position: SourcePosition | None) -> bool:
        if tag in _COLLECTION_TAGS:
            return False
        self._report_tag(tag, path, position)
        return True

    def _tagged_scalar(
        self, node: TaggedScalar, path: tuple, position: SourcePosition | None
    ) -> Any:
        tag = node.tag.value
        if tag == _CORE_PREFIX + "str":
            return str(node.value)
        self._report_tag(tag, path, position)
        return None

    def _report_tag(self, tag: str | None, path: tuple, position: SourcePosition | None) -> None:
        self.problems.append(
            ErrorDetail(
                path=document_path(path),
                message=(
                    f"YAML tag {show_tag(str(tag))} is not supported; configs contain only "
                    "mappings, lists and plain scalars. Remove the tag."
                ),
                value=tag,
                position=position,
            )
        )


def plain_scalar(value: Any) -> Any:
    """Return a ruamel scalar as a plain bool, int, float or str."""
    # ruamel returns subclasses (ScalarFloat, ScalarBoolean, ...) that must not leak into configs.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value
