"""Imports point down only: every import of every vcmref module (module level and inside
functions, read with `ast`) goes to its own group or to a lower layer, in the order the
README's Layout section gives."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vcmref

PACKAGE_DIR = Path(vcmref.__file__).resolve().parent
README = PACKAGE_DIR.parent / "README.md"

# Lowest first. Each layer holds one or more groups (name: modules; a name ending in "." is a
# package and everything in it). A module imports its own group and lower layers only: never
# a higher layer, nor another group of its own layer.
LAYERS: tuple[dict[str, tuple[str, ...]], ...] = (
    {"base": ("vcmref", "vcmref.errors", "vcmref.params", "vcmref.fileio", "vcmref.tensor_files",
              "vcmref.assets", "vcmref.registry")},
    {"bitstream": ("vcmref.bitstream.",)},
    {"refsw": ("vcmref.refsw.",)},
    {"media": ("vcmref.media.",)},
    {"anchors": ("vcmref.anchors.",), "eval": ("vcmref.eval.",)},
    {"tasks": ("vcmref.tasks.",)},
    {"conformance": ("vcmref.conformance.",), "ctc": ("vcmref.ctc.",),
     "analysis": ("vcmref.analysis.",)},
    {"demo": ("vcmref.demo",), "decode_output": ("vcmref.decode_output",)},
    {"cli": ("vcmref.cli", "vcmref.__main__")},
)

# Imports the layer order allows but the design does not: (importer, imported, why), both
# prefixes; a module inside the imported prefix may import it (the encoder imports itself).
FORBIDDEN = (
    ("vcmref.refsw", "vcmref.refsw.encoder", "the normative decoder never imports the encoder"),
    ("vcmref.conformance.plain_decoder", "vcmref.refsw",
     "the plain decoder is written from the spec: it shares the syntax only"),
    ("vcmref.conformance.plain_decoder", "vcmref.media", "the inner decoder is injected"),
    ("vcmref.conformance.plain_decoder", "vcmref.anchors", "the inner decoder is injected"),
    ("vcmref.anchors.registry", "vcmref.anchors.ffmpeg_codecs",
     "the registry is a leaf: codec modules register themselves"),
    ("vcmref.anchors.registry", "vcmref.anchors.reference_software",
     "the registry is a leaf: codec modules register themselves"),
)


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_order() -> str:
    """The order as the README writes it: 'base < bitstream < ... < cli'."""
    return " < ".join(", ".join(layer) for layer in LAYERS)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


MODULES = all_modules()


def group_of(module: str) -> tuple[int, str] | None:
    """(layer index, group name) of a vcmref module, by its longest matching entry."""
    best = None
    for index, layer in enumerate(LAYERS):
        for group, entries in layer.items():
            for entry in entries:
                hit = under(module, entry[:-1]) if entry.endswith(".") else module == entry
                if hit and (best is None or len(entry) > best[0]):
                    best = (len(entry), index, group)
    return None if best is None else best[1:]


def imports_of(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported vcmref module, line) for every import statement in the file, wherever it is
    (function bodies and `if TYPE_CHECKING:` blocks included). `from P import x` counts as
    importing P.x when that is a module, else P."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.append((sub if sub in MODULES else base, node.lineno))
    return [(name, line) for name, line in found if name == "vcmref"
            or name.startswith("vcmref.")]


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 50
    missing = [m for m in MODULES if group_of(m) is None]
    assert not missing, f"modules in no layer (add them to LAYERS and the README): {missing}"


def test_imports_point_down() -> None:
    bad = []
    for module, path in MODULES.items():
        layer, group = group_of(module)
        for imported, line in imports_of(module, path):
            target = group_of(imported)
            if target is None:
                bad.append(f"{path.name}:{line}: {module} imports {imported}, a module in no "
                           "layer")
                continue
            t_layer, t_group = target
            if t_layer > layer or (t_layer == layer and t_group != group):
                bad.append(f"{module} ({group}) imports {imported} ({t_group}) at line {line}")
    assert not bad, "imports that do not point down (" + layer_order() + "):\n" + "\n".join(bad)


def test_forbidden_imports() -> None:
    bad = []
    for importer, imported_prefix, why in FORBIDDEN:
        assert any(under(m, importer) for m in MODULES), f"no module {importer}"
        for module, path in MODULES.items():
            if not under(module, importer) or under(module, imported_prefix):
                continue
            for imported, line in imports_of(module, path):
                if under(imported, imported_prefix):
                    bad.append(f"{module} imports {imported} at line {line}: {why}")
    assert not bad, "\n".join(bad)


def test_the_walker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    src = ("import os\nfrom vcmref.errors import VcmrefError\n\ndef f():\n"
           "    from vcmref.cli import app\n    import vcmref.ctc.runner\n"
           "    from . import color\n    from ..anchors import codec\n")
    path = tmp_path / "x.py"
    path.write_text(src)
    got = [name for name, _ in imports_of("vcmref.media.x", path)]
    assert got == ["vcmref.errors", "vcmref.cli", "vcmref.ctc.runner", "vcmref.media.color",
                   "vcmref.anchors.codec"]


@pytest.mark.skipif(not README.is_file(), reason="no README beside the package (installed)")
def test_readme_states_the_layer_order() -> None:
    text = README.read_text(encoding="utf-8")
    layout = text[text.index("## Layout"):]
    layout = " ".join(layout[:layout.find("\n## ", 1)].split())
    assert f"`{layer_order()}`" in layout, f"the README's Layout section should say: " \
        f"`{layer_order()}`"
