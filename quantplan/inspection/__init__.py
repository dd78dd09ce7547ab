"""Model inspection: the module and op names and types that config keys match."""

from quantplan.inspection.inspector import ModelInspector

__all__ = ["ModelInspector"]
