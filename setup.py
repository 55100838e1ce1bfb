"""Builds the Cython RESP codec; everything else is declared in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("raftkv._resp", ["raftkv/_resp.pyx"])],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
    ),
)
