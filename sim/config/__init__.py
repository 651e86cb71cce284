"""Stage 1, the scenario: the YAML schema, loading, ``extends:`` and overrides, error messages.

Modules: :mod:`~sim.config.schema` (the pydantic models), :mod:`~sim.config.loading` (files,
``extends:``), :mod:`~sim.config.overrides` (``--set``), :mod:`~sim.config.yaml_io` (the one
YAML reader), :mod:`~sim.config.messages` (file, key path, expected, found, did you mean).
"""

from sim.config.loading import load_scenario
from sim.config.schema import Scenario, parse_duration, scenario_json_schema

__all__ = ["Scenario", "load_scenario", "parse_duration", "scenario_json_schema"]
