"""train()/eval() for GraphModules from torch.export.

`ExportedProgram.module()` replaces `train` and `eval` with methods that raise, because the
graph was traced with fixed training flags. torch 2.13 no longer ships
`torch.ao.quantization.allow_exported_model_train_eval`, so this module does the same job:
it rewrites the `training` argument of batch norm and dropout nodes and recompiles.
"""

from __future__ import annotations

import types

import torch
from torch import fx, nn

__all__ = ["allow_train_eval"]

_aten = torch.ops.aten
# Target -> position of its `training`/`train` flag argument.
_TRAINING_FLAG = {
    _aten.batch_norm.default: 5,
    _aten.dropout.default: 2,
    _aten.feature_dropout.default: 2,
    _aten.alpha_dropout.default: 2,
}


def allow_train_eval(module: fx.GraphModule) -> fx.GraphModule:
    """Make `module.train(mode)` and `module.eval()` switch batch norm and dropout nodes."""
    module.train = types.MethodType(_train, module)  # type: ignore[method-assign]
    module.eval = types.MethodType(_eval, module)  # type: ignore[method-assign]
    return module


def _train(self: fx.GraphModule, mode: bool = True) -> fx.GraphModule:
    if _set_training_flags(self.graph, bool(mode)):
        self.recompile()
    nn.Module.train(self, mode)
    return self


def _eval(self: fx.GraphModule) -> fx.GraphModule:
    return _train(self, False)


def _set_training_flags(graph: fx.Graph, mode: bool) -> bool:
    changed = False
    for node in graph.nodes:
        position = _TRAINING_FLAG.get(node.target) if node.op == "call_function" else None
        if position is None or len(node.args) <= position or node.args[position] == mode:
            continue
        args = list(node.args)
        args[position] = mode
        node.args = tuple(args)
        changed = True
    return changed
