"""Stage 1, the scenario: the YAML schema, loading, ``extends:`` and overrides, error messages."""
