"""Builds the Cython hot path (the RESP codec, the entry-batch codec, hash slots, the reply frames);
everything else is declared in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("raftkv._resp", ["raftkv/_resp.pyx"]),
         Extension("raftkv._entries", ["raftkv/_entries.pyx"]),
         Extension("raftkv._slots", ["raftkv/_slots.pyx"]),
         Extension("raftkv._frames", ["raftkv/_frames.pyx"])],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    ),
)
