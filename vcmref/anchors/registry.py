"""The anchor codec registries, in the one registry style of `vcmref.registry`: leaves that
import none of the codecs.

Each codec module registers its classes with `@register` (video codecs) or
`@register_image_codec` when it is imported; the first lookup imports the built-in codec
modules, named here as strings, and the entry-point plugins of the groups
``vcmref.anchors`` and ``vcmref.image_codecs``.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from vcmref.anchors.codec import CodecConfigError
from vcmref.registry import Registry, RegistryError

if TYPE_CHECKING:
    from vcmref.anchors.codec import VideoCodec

#: Video codecs (`vcmref.anchors.codec.VideoCodec` subclasses), by their `name`.
VIDEO_CODECS: Registry[Any] = Registry("anchors", "codec", (
    "vcmref.anchors.ffmpeg_codecs", "vcmref.anchors.reference_software"))
#: Still-image codecs (`vcmref.anchors.image_codecs.ImageCodec` subclasses), by their `name`.
IMAGE_CODECS: Registry[Any] = Registry("image_codecs", "image codec",
                                       ("vcmref.anchors.image_codecs",))


def register(cls: type[VideoCodec]) -> type[VideoCodec]:
    """Class decorator: make a video codec available by its `name`."""
    return VIDEO_CODECS.register(cls.name, cls)


def register_image_codec(cls: type) -> type:
    """Class decorator: make an image codec available by its `name`."""
    return IMAGE_CODECS.register(cls.name, cls)


def _lookup(registry: Registry[Any], name: str) -> type:
    try:
        return registry.get(name)
    except RegistryError as e:
        raise CodecConfigError(str(e)) from None


def _build(cls: type, what: str, name: str, options: dict[str, object]) -> Any:
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise CodecConfigError(f"{what} {name!r} has no option {', '.join(unknown)}; "
                               f"its options: {', '.join(params) or 'none'}")
    return cls(**options)


def codec_names() -> list[str]:
    return VIDEO_CODECS.names()


def codec_class(name: str) -> type[VideoCodec]:
    """The video codec class registered as `name` (its formats, bit depths and defaults)."""
    return _lookup(VIDEO_CODECS, name)


def get_codec(name: str, **options: object) -> VideoCodec:
    """The video codec registered as `name`, built with `options` (its class's keywords)."""
    return _build(codec_class(name), "codec", name, options)


def get_image_codec(name: str, **options: object):
    """The image codec registered as `name`, built with `options` (its class's keywords)."""
    return _build(_lookup(IMAGE_CODECS, name), "image codec", name, options)
