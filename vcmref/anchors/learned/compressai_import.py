"""Importing CompressAI beside a CPU-only torch, without torchvision.

CompressAI 1.2.8 imports `torchvision.transforms` when it is imported, only to fill a registry
of data transforms (`compressai.registry.TRANSFORMS`) that vcmref never uses; coding an image
needs nothing of torchvision. PyPI's torchvision does not import beside the CPU build of torch
(its compiled operators need CUDA libraries: "operator torchvision::nms does not exist"), and
CompressAI's declared requirements (numpy<2, torchvision) would downgrade numpy. So vcmref
installs CompressAI without its dependencies (``pip install -e '.[learned]'`` then
``pip install --no-deps compressai==1.2.8``), and `import_compressai` imports it: when the real
torchvision cannot be imported, empty stand-in modules ``torchvision`` and
``torchvision.transforms`` (flagged ``__vcmref_stand_in__ = True``) are put in `sys.modules`
for the import of CompressAI only, and removed again, so a later ``import torchvision``
elsewhere fails as it would have.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import warnings
from types import ModuleType

from vcmref.errors import ToolNotFoundError

__all__ = ["INSTALL_HINT", "import_compressai", "import_torch"]

INSTALL_HINT = ("install them with: pip install -e '.[learned]' then "
                "pip install --no-deps compressai==1.2.8")
_STAND_INS = ("torchvision", "torchvision.transforms")


def import_torch() -> ModuleType:
    """torch, or a one-line ToolNotFoundError saying how to install the learned codecs."""
    try:
        return importlib.import_module("torch")
    except ImportError as e:
        raise ToolNotFoundError(f"the learned codecs need torch and CompressAI ({e}); "
                                f"{INSTALL_HINT}") from None


def _torchvision_imports() -> bool:
    """Whether the real torchvision imports; a failed attempt leaves none of it behind."""
    module = sys.modules.get("torchvision")
    if module is not None:
        return not getattr(module, "__vcmref_stand_in__", False)
    try:
        importlib.import_module("torchvision.transforms")
        return True
    except (ImportError, RuntimeError, OSError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False


def _stand_ins() -> dict[str, ModuleType]:
    """Empty modules for torchvision and torchvision.transforms, flagged as stand-ins."""
    modules = {}
    for name in _STAND_INS:
        module = ModuleType(name, "vcmref stand-in: the real torchvision does not import here")
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, origin="vcmref stand-in")
        module.__vcmref_stand_in__ = True
        modules[name] = module
    modules["torchvision"].transforms = modules["torchvision.transforms"]
    return modules


def import_compressai() -> ModuleType:
    """The compressai package (with `compressai.zoo` and `compressai.models` imported), through
    the torchvision stand-in where the real one does not import; a one-line ToolNotFoundError
    naming the install commands when torch or CompressAI is missing."""
    if "compressai.zoo" in sys.modules:
        return sys.modules["compressai"]
    import_torch()
    stand_ins = {} if _torchvision_imports() else _stand_ins()
    sys.modules.update(stand_ins)
    try:
        with warnings.catch_warnings():  # CompressAI 1.2.8 calls torch.jit.script on import
            warnings.filterwarnings("ignore", ".*torch.jit.script", DeprecationWarning)
            compressai = importlib.import_module("compressai")
            importlib.import_module("compressai.models")
            importlib.import_module("compressai.zoo")
    except ImportError as e:
        raise ToolNotFoundError(f"the learned codecs need CompressAI 1.2.8 and its run-time "
                                f"dependencies ({type(e).__name__}: {e}); "
                                f"{INSTALL_HINT}") from None
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    return compressai
