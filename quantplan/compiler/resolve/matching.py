"""Rule matching: which config rule decides a module, an op and each of its tensors.

This module holds the only implementation of the precedence rules; the resolver and
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
`op_*_spec`. A spec map prefers an explicit key to `"*"`. A map that has neither leaves the
tensor in float, and the rule string names the missing key with the suffix ` (key absent)`,
so that it differs from a None group (`global_config.op_input_spec`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from quantplan.compiler.capture.op_types import canonical_op_type
from quantplan.compiler.graph import ModuleInfo
from quantplan.errors import ConfigError, ErrorDetail
from quantplan.quantization.config import ModuleQuantizerConfig, OpQuantizerConfig, QuantizerConfig
from quantplan.quantization.spec import QuantizationSpec

__all__ = [
    "ConfigIndex",
    "ModuleRule",
    "OpRule",
    "TensorDecision",
    "ancestor_paths",
    "decide_index_tensor",
    "decide_state_tensor",
    "op_rule_candidates",
    "op_type_matches",
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


@attrs.frozen
class TensorDecision:
    """The spec that a rule gives one tensor (None = float) and the rule string that decided it."""

    spec: QuantizationSpec | None
    rule: str
    group: str | None = None
    key: int | str | None = None


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
            module = ModuleInfo(path=path, type=type_name or "", mro=(type_name,) if type_name else ())
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


def op_rule_candidates(module_rule: ModuleRule, op_name: str, op_type: str, target: str) -> list[OpRule]:
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


KEY_ABSENT = " (key absent)"


def _group_rule(rule: OpRule, group: str, suffix: str, *, absent: bool = False) -> str:
    text = f"{rule.path}.{group}{suffix}"
    if rule.config is not None and group in rule.config.defaulted_fields:
        text += " (default)"
    if absent:
        text += KEY_ABSENT
    return text


def decide_index_tensor(rule: OpRule, group: str, index: int) -> TensorDecision:
    """Decide an input or output tensor (`group` is `op_input_spec` or `op_output_spec`)."""
    if rule.config is None:
        return TensorDecision(None, rule.path)
    specs = getattr(rule.config, group)
    if specs is None:
        return TensorDecision(None, _group_rule(rule, group, ""), group)
    for key in (index, "*"):
        if key in specs:
            return TensorDecision(specs[key], _group_rule(rule, group, quote(key)), group, key)
    return TensorDecision(None, _group_rule(rule, group, quote(index), absent=True), group)


def state_key(specs: dict | None, local_name: str, role: str) -> str | None:
    """Return the `op_state_spec` key that selects a parameter, or None.

    The attribute name beats the `weight` key, which beats `"*"`. The `weight` key selects
    the parameter in the op's weight role (a raw `gate` passed to F.linear included).
    NOTE: a parameter that is merely named `weight` outside a weight role (an RMSNorm scale
    read by `mul`) is selected only by `"*"`, so `{"weight": spec}` means "the op's weights".
    """
    if not specs:
        return None
    own_name = local_name if (local_name != "weight" or role == "weight") else None
    for key, applies in ((own_name, own_name is not None), ("weight", role == "weight"), ("*", True)):
        if applies and key in specs:
            return key
    return None


def decide_state_tensor(rule: OpRule, local_name: str, role: str) -> TensorDecision:
    """Decide a parameter consumed by the op, by attribute name and role."""
    if rule.config is None:
        return TensorDecision(None, rule.path)
    specs = rule.config.op_state_spec
    if specs is None:
        return TensorDecision(None, _group_rule(rule, "op_state_spec", ""), "op_state_spec")
    key = state_key(specs, local_name, role)
    if key is None:
        return TensorDecision(None, _group_rule(rule, "op_state_spec", quote(local_name), absent=True), "op_state_spec")
    return TensorDecision(specs[key], _group_rule(rule, "op_state_spec", quote(key)), "op_state_spec", key)


def boundary_decision(rule: ModuleRule, group: str, index: int) -> TensorDecision:
    """Decide a module boundary tensor (`group` is `module_input_spec` or `module_output_spec`)."""
    specs = getattr(rule.config, group)
    prefix = f"{rule.path}.{group}"
    if specs is None:
        return TensorDecision(None, prefix, group)
    for key in (index, "*"):
        if key in specs:
            return TensorDecision(specs[key], prefix + quote(key), group, key)
    return TensorDecision(None, prefix + quote(index) + KEY_ABSENT, group)
