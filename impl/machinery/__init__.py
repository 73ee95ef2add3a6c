"""The machinery that drives the reference engine and SGLang's released code alike.

``controlled``: an event loop on which a test chooses which task runs next; ``stacks`` and
``positions``: where a suspended task is, read from its coroutine stack, as a spec label;
``explore``: every schedule of a small scenario, and graph equality with the checker's graph
of the spec; ``conformance``: the Hypothesis state machine that steps code and spec together.
A *subject* (the engine's :class:`impl.engine.harness.Harness`, the released code's
``impl.upstream.conformance`` harness) is what they drive: this package imports neither.
"""
