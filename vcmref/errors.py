"""Errors raised by vcmref: one class per kind of failure, each with a one-line message."""

from __future__ import annotations


class VcmrefError(Exception):
    """Base class of every error vcmref raises on purpose."""


class BitstreamError(VcmrefError):
    """A stream that does not conform: names the unit, the syntax element and the bit offset."""

    def __init__(
        self,
        message: str,
        *,
        unit: str | None = None,
        element: str | None = None,
        bit_offset: int | None = None,
    ) -> None:
        self.reason = message
        self.unit = unit
        self.element = element
        self.bit_offset = bit_offset
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.unit is not None:
            where.append(f"unit {self.unit}")
        if self.element is not None:
            where.append(f"element {self.element}")
        if self.bit_offset is not None:
            where.append(f"bit {self.bit_offset}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(
        self, *, unit: str | None = None, bit_base: int = 0
    ) -> BitstreamError:
        """Return a copy placed in a unit, with offsets made absolute within the stream."""
        return BitstreamError(
            self.reason,
            unit=self.unit if self.unit is not None else unit,
            element=self.element,
            bit_offset=None if self.bit_offset is None else self.bit_offset + bit_base,
        )


class EncoderInputError(VcmrefError):
    """Input the encoder refuses: NaN/Inf, wrong dtype, empty or oversized tensors, bad options."""


class ToolError(VcmrefError):
    """An external tool failed: it exited non-zero, timed out, or wrote no usable output."""


class ToolNotFoundError(ToolError):
    """An external tool is not installed or not where the configuration points."""
