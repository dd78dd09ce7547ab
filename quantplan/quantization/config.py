"""The three config classes: `QuantizerConfig` > `ModuleQuantizerConfig` > `OpQuantizerConfig`.

Meanings of a tensor-group field (`op_input_spec`, `op_output_spec`, `op_state_spec`):

- omitted: the documented default (W8A8); the field name is recorded in `defaulted_fields`
  so the plan can say "(default)";
- None: the tensor group is disabled;
- `{}`: an empty map, which quantizes nothing and never brings a default back.

The classes are mutable because the documented setters change a config in place and
return it. Every assignment is converted and validated, so a config never holds a value
that loading would reject.
"""

from __future__ import annotations

from quantplan.quantization.execution_mode import ExecutionMode
from quantplan.quantization.module_config import ModuleQuantizerConfig
from quantplan.quantization.op_config import OpQuantizerConfig
from quantplan.quantization.quantizer_config import QuantizerConfig

__all__ = [
    "ExecutionMode",
    "ModuleQuantizerConfig",
    "OpQuantizerConfig",
    "QuantizerConfig",
]
