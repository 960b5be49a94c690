"""The store, split along what it holds: :mod:`~serving.store.rows` (schools, pupils, uploads,
marks), :mod:`~serving.store.trajectories` (each school-year's weekly trajectory and year
totals) and :mod:`~serving.store.rescoring` (stored scores brought up to date).

Storage runs in the caller's transaction and knows nothing of HTTP: a refusal is a
:class:`serving.errors.ServiceError`."""
