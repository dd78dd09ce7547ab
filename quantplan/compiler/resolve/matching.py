"""Rule matching: which config rule decides a module and an op.

This module contains the only implementation of the precedence rules; the resolver and
`explain` both call it. Every `*_candidates` function returns all matching rules ordered by
precedence, winner first, so that `explain` can show what the winner shadowed.

Module level (per module M, over the path from M up to the root):
1. the deepest module that a `module_name_configs` key full-matches (aliases included);
   among keys matching that module, the last declared wins;
2. else the deepest module whose class a `module_type_configs` key matches; an exact-class
   key beats a base-class key, and among equals the last declared wins;
3. else `global_config`.

Op level, inside the deciding module config: the last `op_name_config` key that full-matches
the op name, else the last `op_type_config` key that matches its type, else the config's own
`op_*_spec`. How that config's spec maps decide each tensor is in
`quantplan.compiler.resolve.decisions`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from quantplan.compiler.capture.op_types import canonical_op_type
from quantplan.compiler.graph import ModuleInfo
from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.config import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig

__all__ = [
    "ConfigIndex",
    "ModuleRule",
    "OpRule",
    "ancestor_paths",
    "op_rule_candidates",
    "op_type_matches",
    "quote",
]

GroupConfig = OpQuantizerConfig | ModuleQuantizerConfig


def quote(key: object) -> str:
    """Format a map key the way rule strings and error paths do: `[0]` or `["weight"]`."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"[{key}]"
    return f'["{key}"]'


@attrs.frozen
class ModuleRule:
    """A module-level rule that matches a module.

    `level` is `name`, `type` or `global`; `position` the key's declaration index; `matched`
    the path of the module (M or an ancestor) that the key matched, at `depth` steps above M;
    `exact` whether a type key names the class itself rather than a base class.
    """

    level: str
    key: str | None
    config: ModuleQuantizerConfig | None
    position: int = 0
    matched: str = ""
    depth: int = 0
    exact: bool = True

    @property
    def path(self) -> str:
        """The rule string of this level, such as `module_name_configs["fc2"]`."""
        if self.level == "name":
            return f"module_name_configs{quote(self.key)}"
        if self.level == "type":
            return f"module_type_configs{quote(self.key)}"
        return "global_config"


@attrs.frozen
class OpRule:
    """An op-level rule inside a module config: an `op_name_config` or `op_type_config` key,
    or the module config's own specs (`kind` = `own`). `config` None disables the op."""

    kind: str
    key: str | None
    config: GroupConfig | None
    prefix: str
    position: int = 0

    @property
    def path(self) -> str:
        """The rule string, such as `global_config.op_type_config["linear"]`."""
        if self.kind == "name":
            return f"{self.prefix}.op_name_config{quote(self.key)}"
        if self.kind == "type":
            return f"{self.prefix}.op_type_config{quote(self.key)}"
        return self.prefix


def ancestor_paths(path: str) -> list[str]:
    """Return `path` and its ancestors' paths, innermost first, ending with the root `""`."""
    paths = []
    while path:
        paths.append(path)
        path = path.rpartition(".")[0]
    paths.append("")
    return paths


class ConfigIndex:
    """The config's module-level keys, matched once per module path and once per class."""

    def __init__(self, config: QuantizerConfig, modules: Iterable[ModuleInfo]):
        self.config = config
        self.modules = {}
        for module in modules:
            self.modules[module.path] = module
            for alias in module.aliases:
                self.modules.setdefault(alias, module)
        self.name_keys = [(key, re.compile(key)) for key in config.module_name_configs]
        self.type_keys = list(config.module_type_configs)
        self.type_targets = self._type_targets()
        self._name_cache: dict[str, tuple[int, ...]] = {}
        self._type_cache: dict[str, tuple[tuple[int, bool], ...]] = {}
        self._candidate_cache: dict[str, tuple[ModuleRule, ...]] = {}

    def module_info(self, path: str, type_name: str | None = None) -> ModuleInfo:
        """Return the module at `path`; an unknown path gets a record with only its class."""
        module = self.modules.get(path)
        if module is None:
            module = ModuleInfo(
                path=path, type=type_name or "", mro=(type_name,) if type_name else ()
            )
        return module

    def _type_targets(self) -> list[frozenset[str]]:
        """Return, per type key, the fully qualified class names it stands for."""
        classes: set[str] = set()
        for module in self.modules.values():
            classes.update(module.mro)
            classes.update(module.class_aliases)
        targets, problems = [], []
        for key in self.type_keys:
            if "." in key:
                targets.append(frozenset({key}))
                continue
            found = sorted(name for name in classes if name.rpartition(".")[2] == key)
            if len(found) > 1:
                problems.append(_ambiguous_type_key(key, found))
            targets.append(frozenset(found))
        if problems:
            raise ConfigError(problems)
        return targets

    def name_matches(self, path: str) -> tuple[int, ...]:
        """Return the positions of the name keys that full-match `path` or one of its aliases."""
        cached = self._name_cache.get(path)
        if cached is None:
            module = self.modules.get(path)
            names = (path, *(module.aliases if module else ()))
            cached = tuple(
                position
                for position, (_, pattern) in enumerate(self.name_keys)
                if any(pattern.fullmatch(name) for name in names)
            )
            self._name_cache[path] = cached
        return cached

    def type_matches(self, module: ModuleInfo) -> tuple[tuple[int, bool], ...]:
        """Return (position, exact) of the type keys that match the module's class."""
        cached = self._type_cache.get(module.type)
        if cached is None:
            own = {module.type, *module.class_aliases}
            bases = set(module.mro) - own
            cached = tuple(
                (position, bool(targets & own))
                for position, targets in enumerate(self.type_targets)
                if targets & own or targets & bases
            )
            self._type_cache[module.type] = cached
        return cached

    def module_candidates(self, path: str, type_name: str | None = None) -> tuple[ModuleRule, ...]:
        """Return every module-level rule that matches the module at `path`, winner first."""
        cached = self._candidate_cache.get(path)
        if cached is None:
            cached = tuple(self._collect_candidates(path, type_name))
            self._candidate_cache[path] = cached
        return cached

    def _collect_candidates(self, path: str, type_name: str | None) -> list[ModuleRule]:
        chain = ancestor_paths(path)
        names, types = [], []
        for depth, ancestor in enumerate(chain):
            for position in reversed(self.name_matches(ancestor)):
                key = self.name_keys[position][0]
                config = self.config.module_name_configs[key]
                names.append(ModuleRule("name", key, config, position, ancestor, depth))
            module = self.module_info(ancestor, type_name if depth == 0 else None)
            matches = sorted(self.type_matches(module), key=lambda item: (not item[1], -item[0]))
            for position, exact in matches:
                key = self.type_keys[position]
                config = self.config.module_type_configs[key]
                types.append(ModuleRule("type", key, config, position, ancestor, depth, exact))
        return [*names, *types, ModuleRule("global", None, self.config.global_config)]

    def decide_module(self, path: str, type_name: str | None = None) -> ModuleRule:
        """Return the single rule that decides the module at `path`."""
        return self.module_candidates(path, type_name)[0]


def _ambiguous_type_key(key: str, found: list[str]) -> ErrorDetail:
    return ErrorDetail(
        path=f"module_type_configs{quote(key)}",
        message=(
            f"module type key {key!r} is ambiguous: the model has {len(found)} classes of that name "
            f"({', '.join(found)}). Use the fully qualified name of the one you mean."
        ),
        value=key,
        expected=tuple(found),
    )


def op_type_matches(key: str, op_type: str, target: str) -> bool:
    """Whether an `op_type_config` key matches an op.

    A key matches the op type, an alias of it (`concat` matches `cat`), or in full or
    without its overload the op's target (`aten.linear.default`, `aten.linear`).
    """
    if key == op_type or canonical_op_type(key) == op_type:
        return True
    if key.startswith("torch.ops."):
        key = key[len("torch.ops.") :]
    return key == target or (target.count(".") >= 2 and key == target.rpartition(".")[0])


def op_rule_candidates(
    module_rule: ModuleRule, op_name: str, op_type: str, target: str
) -> list[OpRule]:
    """Return the op-level rules of the deciding module config that match an op, winner first.

    A module config of None yields one `own` rule with config None (the scope is disabled).
    """
    config = module_rule.config
    prefix = module_rule.path
    if config is None:
        return [OpRule("own", None, None, prefix)]
    rules = []
    for position, (key, op_config) in reversed(list(enumerate(config.op_name_config.items()))):
        if re.fullmatch(key, op_name):
            rules.append(OpRule("name", key, op_config, prefix, position))
    for position, (key, op_config) in reversed(list(enumerate(config.op_type_config.items()))):
        if op_type_matches(key, op_type, target):
            rules.append(OpRule("type", key, op_config, prefix, position))
    rules.append(OpRule("own", None, config, prefix))
    return rules
