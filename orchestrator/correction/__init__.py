"""Woodpecker-style hallucination correction: every claim of a text checked against the image with the
installed expert tools, and the text rewritten with box-grounded claims.

``correct(image, text) -> Correction`` for one call, :class:`Corrector` to reuse the models over many.
"""

from visorch.correction.api import Corrector, correct
from visorch.correction.config import CorrectionConfig
from visorch.correction.result import Correction
from visorch.correction.types import Claim, ClaimVerdict, Concept, NormalisedBox, StageRecord

__all__ = [
    "Claim",
    "ClaimVerdict",
    "Concept",
    "Correction",
    "CorrectionConfig",
    "Corrector",
    "NormalisedBox",
    "StageRecord",
    "correct",
]
