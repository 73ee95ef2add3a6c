"""The upstream adapter: SGLang's own released code, checked version by version.

SGLang's pause / continue / weight-update / generate methods, its RWLock and its
communicator are plain asyncio. This package runs them, unchanged, on the controlled loop
(:mod:`impl.machinery.controlled`) against the reference engine's scheduler model, and explores every
schedule of small scenarios:

1. :mod:`~impl.upstream.fetch` downloads one release's wheel with pip (no dependencies,
   pinned tags) into a user cache, once; or reads a local checkout (``--source DIR``).
   Nothing of SGLang is committed here, and nothing is imported from it.
2. :mod:`~impl.upstream.extract` finds the methods with :mod:`ast` and classifies each update
   entry point's locking pattern (writer-always, pre-fix, post-fix, other).
3. :mod:`~impl.upstream.driver` compiles them at run time against ONE stub surface
   (:data:`~impl.upstream.driver.STUB_SURFACE`); anything outside it is "unsupported: needs X".
   :class:`~impl.upstream.driver.SchedulerSide` is the one seam to the engine.
4. :mod:`~impl.upstream.world` and :mod:`~impl.upstream.position` run a scenario and read
   every task's position from its suspended coroutine stack (never from labels the code sets);
   :mod:`~impl.upstream.hazards` explores and gives each hazard a verdict;
   :mod:`~impl.upstream.conformance` reads the same run as spec states and compares the
   graph with the checker's graph of the version's variant.
5. :mod:`~impl.upstream.cli`: ``python -m impl.upstream check VERSION`` / ``matrix``;
   :mod:`~impl.upstream.mutate`: lock-edit mutants of the real code (``--mutate``).

Gating your own checkout: ``python -m impl.upstream check mine --source ~/src/sglang``
exits 0 when every checked hazard is absent and conformance holds, 1 when a hazard is
reproduced (the schedule and the harm are printed) or conformance fails (the first differing
edge is printed), 2 when the code needs something outside the stub surface.

What it proves, and what not: for ONE tokenizer manager (multi-tokenizer mode is outside),
with the scheduler MODELLED by the reference engine (messages in FIFO order, updates between
forward passes), on the listed scenarios only (two updates, one request of two tokens, one
pause and one continue), with tokenization modelled as one suspension, dp_size 1. A
``reproduced`` is a real interleaving of the real methods; an ``absent`` is a complete
exploration of that scenario, not of every workload. Conformance
(:mod:`~impl.upstream.conformance`) is graph equality with the spec on three small scenarios
per entry point: it says the real code and the spec take the same steps there, not beyond.
"""
