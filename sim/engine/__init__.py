"""Stage 4, the SimPy model: nodes, the login lifecycle, disruptions, sampling and recording.

Modules: :mod:`~sim.engine.records` (the record schema the results read),
:mod:`~sim.engine.environment` (the calendar), :mod:`~sim.engine.login`,
:mod:`~sim.engine.nodes`, :mod:`~sim.engine.streams`, :mod:`~sim.engine.disruptions`,
:mod:`~sim.engine.sampling`, :mod:`~sim.engine.recording`, :mod:`~sim.engine.loop` (the
lifecycle and :func:`~sim.engine.loop.run_replication`) and :mod:`~sim.engine.reference`.
Nothing is imported here, so ``import sim.engine.records`` loads numpy only.
"""
