"""A story's vector for the digest: its title and lead, embedded by the inference service
(never on the event loop), storable as text.

Vectors are kept with the encoder that made them: one made by another model is not
comparable and is computed again.
"""

from __future__ import annotations

import base64

import numpy as np

_STORED_DTYPE = np.dtype("<f2")  # float16: half the size, cosines change by < 0.001


def story_text(title: str, lead: str) -> str:
    return f"{title.strip()}. {lead.strip()}".strip(". ")


def pack_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=_STORED_DTYPE).tobytes()).decode("ascii")


def unpack_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=_STORED_DTYPE).astype(np.float32)
