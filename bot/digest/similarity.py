"""A story's vector for the digest: its title and lead, embedded by the shared sentence
encoder in a worker thread (never on the event loop), storable as text.

Vectors are kept with the encoder that made them: one made by another model is not
comparable and is computed again.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import numpy as np

from bot.encoder import load_encoder

_STORED_DTYPE = np.dtype("<f2")  # float16: half the size, cosines change by < 0.001


def story_text(title: str, lead: str) -> str:
    return f"{title.strip()}. {lead.strip()}".strip(". ")


def encoder_identity(encoder_model: Path | None) -> str:
    return str(encoder_model or "packaged")


async def embed_stories(texts: list[str], encoder_model: Path | None) -> np.ndarray:
    """One unit vector per text, as the rows of a float32 matrix."""
    return await asyncio.to_thread(lambda: load_encoder(encoder_model).embed(texts))


def pack_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=_STORED_DTYPE).tobytes()).decode("ascii")


def unpack_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=_STORED_DTYPE).astype(np.float32)
