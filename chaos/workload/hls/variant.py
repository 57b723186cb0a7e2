"""Which variant of a multivariant playlist a listener plays: lowest, highest, or a bandwidth.

Audio platforms offer a few bitrates; players on a good link take the highest, players capped
by a data plan or a bad link a lower one. A bandwidth cap picks the highest variant that fits
under it (the lowest when none fits), as an ABR player limited to that bandwidth would settle.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.workload.hls.playlist import Variant


@dataclass(frozen=True, slots=True)
class VariantPolicy:
    """``lowest``, ``highest``, or ``bandwidth`` (bit/s): the highest variant at most that."""

    choice: str = "highest"
    bandwidth: int | None = None

    @classmethod
    def parse(cls, text: str | int) -> VariantPolicy:
        """``lowest``, ``highest``, or a bandwidth in bit/s (``64000``)."""
        if isinstance(text, int):
            if text <= 0:
                raise ValueError(f"a variant bandwidth must be > 0 bit/s, got {text}")
            return cls("bandwidth", text)
        if text in ("lowest", "highest"):
            return cls(text)
        if text.isdigit():
            return cls.parse(int(text))
        raise ValueError(f"variant must be lowest, highest or a bandwidth in bit/s, got {text!r}")

    def choose(self, variants: tuple[Variant, ...]) -> Variant | None:
        if not variants:
            return None
        ordered = sorted(variants, key=lambda v: v.bandwidth)
        if self.choice == "lowest":
            return ordered[0]
        if self.choice == "highest" or self.bandwidth is None:
            return ordered[-1]
        fitting = [v for v in ordered if v.bandwidth <= self.bandwidth]
        return fitting[-1] if fitting else ordered[0]
