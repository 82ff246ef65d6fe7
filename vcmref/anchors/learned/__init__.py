"""Learned image codecs as anchors: CompressAI's models (zoo, shipped or checkpoint) coding
R'G'B' pictures into a self-describing container (docs/anchors.md, "Learned codecs").

`compressai_import` imports CompressAI beside a CPU-only torch; `container` is the byte layout;
`codec` loads models and codes pictures. Importing this package imports neither torch nor
CompressAI: they are imported on first use."""

from vcmref.anchors.learned.codec import (
    ARCHITECTURES,
    ZOO_MODELS,
    CompressAICodec,
    LearnedModelError,
    load_codec,
    save_checkpoint,
    shipped_models,
)

__all__ = ["ARCHITECTURES", "ZOO_MODELS", "CompressAICodec", "LearnedModelError", "load_codec",
           "save_checkpoint", "shipped_models"]
