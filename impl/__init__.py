"""The code side of the project, in three rooms.

* :mod:`impl.engine`: the reference engine (asyncio, torch weights) and its harness;
* :mod:`impl.upstream`: SGLang's own released methods, fetched and run without importing SGLang;
* :mod:`impl.machinery`: the controlled loop, stack-read positions, exploration and
  conformance, which drive either and name neither.
"""
