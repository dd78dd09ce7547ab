"""Hand-built model graphs for resolver tests, independent of graph capture."""

from __future__ import annotations

from quantplan.compiler.graph import (
    CaptureInfo,
    ModelGraph,
    ModuleInfo,
    OpNode,
    ParamInfo,
    ParamUse,
    TensorInfo,
)

LINEAR = "torch.nn.modules.linear.Linear"
EMBEDDING = "torch.nn.modules.sparse.Embedding"
MODULE = "torch.nn.modules.module.Module"


def tensor(*shape: int, dtype: str = "float32") -> TensorInfo:
    return TensorInfo(tuple(shape), dtype)


def module(path: str, cls: str, *bases: str, aliases: tuple[str, ...] = ()) -> ModuleInfo:
    return ModuleInfo(path=path, type=cls, mro=(cls, *bases, MODULE), aliases=aliases)


def op(
    name: str,
    op_type: str,
    module_path: str,
    module_type: str,
    inputs=(),
    producers=None,
    outputs=(),
    params=(),
    call_site: int = 0,
    target: str | None = None,
) -> OpNode:
    stack = (
        tuple(
            (".".join(module_path.split(".")[: i + 1]), module_type)
            for i in range(len(module_path.split(".")))
        )
        if module_path
        else ()
    )
    return OpNode(
        name=name,
        type=op_type,
        target=target or f"aten.{op_type}.default",
        module=module_path,
        module_type=module_type,
        module_stack=stack,
        call_site=call_site,
        inputs=tuple(inputs),
        input_producers=tuple(producers) if producers is not None else (None,) * len(inputs),
        outputs=tuple(outputs),
        params=tuple(params),
    )


def weight(
    path: str, layout: str = "out_in", local_name: str = "weight", role: str = "weight"
) -> ParamUse:
    return ParamUse(local_name=local_name, path=path, role=role, layout=layout)


def param(path: str, *shape: int, aliases: tuple[str, ...] = ()) -> ParamInfo:
    return ParamInfo(path=path, aliases=aliases or (path,), shape=tuple(shape), dtype="float32")


def graph(
    ops, modules, parameters, calls=(), root: str = "example.Net", mode: str = "graph"
) -> ModelGraph:
    root_module = ModuleInfo(path="", type=root, mro=(root, MODULE))
    return ModelGraph(
        root_class=root,
        execution_mode=mode,
        ops=tuple(ops),
        modules=(root_module, *modules),
        module_calls=tuple(calls),
        parameters=tuple(parameters),
        inputs={"args": [], "kwargs": {}, "dynamic_shapes": None},
        capture=CaptureInfo(mode=mode, method="hand-built"),
    )


def tiny_net() -> ModelGraph:
    """The TinyNet of the plan example: embed -> fc1 -> relu -> fc2."""
    ops = [
        op(
            "embedding",
            "embedding",
            "embed",
            EMBEDDING,
            outputs=[tensor(2, 7, 64)],
            params=[weight("embed.weight", "vocab_dim")],
        ),
        op(
            "linear",
            "linear",
            "fc1",
            LINEAR,
            [tensor(2, 7, 64)],
            ["embedding"],
            [tensor(2, 7, 128)],
            [weight("fc1.weight"), weight("fc1.bias", None, "bias", "bias")],
        ),
        op("relu", "relu", "", "example.Net", [tensor(2, 7, 128)], ["linear"], [tensor(2, 7, 128)]),
        op(
            "linear_1",
            "linear",
            "fc2",
            LINEAR,
            [tensor(2, 7, 128)],
            ["relu"],
            [tensor(2, 7, 100)],
            [weight("fc2.weight")],
        ),
    ]
    modules = [module("embed", EMBEDDING), module("fc1", LINEAR), module("fc2", LINEAR)]
    params = [
        param("embed.weight", 100, 64),
        param("fc1.weight", 128, 64),
        param("fc1.bias", 128),
        param("fc2.weight", 100, 128),
    ]
    return graph(ops, modules, params)
