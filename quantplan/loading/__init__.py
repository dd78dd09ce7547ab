"""YAML and dict configs to config objects and back, with source positions in every error."""

from __future__ import annotations

from quantplan.loading.document import config_problems, load_dict, load_yaml
from quantplan.loading.dump import dump_dict, dump_yaml
from quantplan.loading.source import read_yaml

__all__ = ["config_problems", "dump_dict", "dump_yaml", "load_dict", "load_yaml", "read_yaml"]
