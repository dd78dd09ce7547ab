"""Module and parameter tables of a model, the part of the graph that needs no tracing."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import torch
from torch import nn

from quantplan.compiler.capture.signature import dtype_name
from quantplan.compiler.graph import ModuleInfo, ParamInfo

__all__ = [
    "ParameterTable",
    "describe_modules",
    "module_paths_by_id",
    "module_state_tensors",
    "qualified_name",
    "state_tensors",
]


def qualified_name(cls: type) -> str:
    """Return the fully qualified name of a class (`torch.nn.modules.linear.Linear`)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def module_paths_by_id(model: nn.Module) -> dict[int, list[str]]:
    """Map id(module) to every path that reaches it, first path first ("" is the root)."""
    paths: dict[int, list[str]] = {}
    for path, module in model.named_modules(remove_duplicate=False):
        paths.setdefault(id(module), []).append(path)
    return paths


def state_tensors(model: nn.Module) -> dict[int, torch.Tensor]:
    """Map id(tensor) to each registered buffer and plain tensor attribute of the model's modules.

    These are the tensors that torch.export lifts as buffers and constants. They are model
    state, so eager capture and the eager runtime never count them as activation inputs.
    """
    return module_state_tensors(model.modules())


def module_state_tensors(modules: Iterable[nn.Module]) -> dict[int, torch.Tensor]:
    """Map id(tensor) to each buffer and plain tensor attribute of `modules` (see state_tensors)."""
    tensors: dict[int, torch.Tensor] = {}
    # Reads each module's buffer table directly: the eager runtime calls this every forward,
    # and named_buffers() would build a dotted name for every buffer.
    for module in modules:
        for buffer in module._buffers.values():
            if buffer is not None:
                tensors[id(buffer)] = buffer
        for value in vars(module).values():
            if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
                tensors[id(value)] = value
    return tensors


def describe_modules(model: nn.Module) -> tuple[ModuleInfo, ...]:
    """Describe every module below the root, one ModuleInfo per path, in named_modules order."""
    paths_by_id = module_paths_by_id(model)
    class_aliases = _class_aliases(model)
    infos = []
    for path, module in model.named_modules(remove_duplicate=False):
        if not path:
            continue
        paths = paths_by_id[id(module)]
        infos.append(
            ModuleInfo(
                path=path,
                type=qualified_name(type(module)),
                mro=_module_mro(type(module)),
                aliases=tuple(other for other in paths if other != path),
                class_aliases=class_aliases.get(type(module), ()),
            )
        )
    return tuple(infos)


def _module_mro(cls: type) -> tuple[str, ...]:
    return tuple(
        qualified_name(base)
        for base in cls.__mro__
        if isinstance(base, type) and issubclass(base, nn.Module)
    )


def _class_aliases(model: nn.Module) -> dict[type, tuple[str, ...]]:
    """Find other dotted names for each module class in the modules that define the model.

    A class `pkg.layers.Block` re-exported as `pkg.Block` (an import in a module that also
    defines one of the model's classes) gets the alias `pkg.Block`.
    """
    classes = {type(module) for module in model.modules()}
    module_names = {cls.__module__ for cls in classes}
    aliases: dict[type, set[str]] = {cls: set() for cls in classes}
    for module_name in module_names:
        python_module = sys.modules.get(module_name)
        if python_module is None:
            continue
        for attribute, value in vars(python_module).items():
            if isinstance(value, type) and value in aliases:
                dotted = f"{module_name}.{attribute}"
                if dotted != qualified_name(value):
                    aliases[value].add(dotted)
    return {cls: tuple(sorted(names)) for cls, names in aliases.items() if names}


class ParameterTable:
    """Parameters of a model grouped by storage, with every alias path of each one."""

    def __init__(self, model: nn.Module):
        self._groups: dict[int, list[str]] = {}
        self._tensors: dict[int, torch.Tensor] = {}
        for path, parameter in model.named_parameters(remove_duplicate=False):
            self._groups.setdefault(id(parameter), []).append(path)
            self._tensors[id(parameter)] = parameter
        self._by_path = {path: key for key, paths in self._groups.items() for path in paths}

    def infos(self) -> tuple[ParamInfo, ...]:
        """Return one ParamInfo per storage, in named_parameters order."""
        return tuple(self._info(key) for key in self._groups)

    def _info(self, key: int) -> ParamInfo:
        tensor = self._tensors[key]
        return ParamInfo(
            path=self._groups[key][0],
            aliases=tuple(self._groups[key]),
            shape=tuple(int(size) for size in tensor.shape),
            dtype=dtype_name(tensor.dtype),
        )

    def aliases_of(self, path: str) -> tuple[str, ...]:
        """Return every path of the parameter that `path` names."""
        return tuple(self._groups[self._by_path[path]])

    def path_of(self, tensor: torch.Tensor) -> str | None:
        """Return the first path of a parameter tensor, or None for any other tensor."""
        paths = self._groups.get(id(tensor))
        if paths is None or self._tensors[id(tensor)] is not tensor:
            return None
        return paths[0]

    def path_under(self, path: str, module_path: str) -> str:
        """Pick the alias of `path` that lies directly on `module_path`, else `path` itself."""
        for alias in self.aliases_of(path):
            owner, _, _ = alias.rpartition(".")
            if owner == module_path:
                return alias
        return path

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_path)
