"""Builds the optional compiled rANS kernels; vcmref works (slower) without them."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "vcmref.refsw._ranskernel",
            ["vcmref/refsw/_ranskernel.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
