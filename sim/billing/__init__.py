"""The provider's billing and quota rules, and the usage a scenario or a result implies."""
