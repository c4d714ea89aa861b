"""The layer as `sam build` builds it (BuildMethod: makefile, the app's layer/Makefile) ships its
modules' bytecode, compiled for the runtime with unchecked-hash invalidation (Lambda's /opt is
read-only, and a zip's timestamps would make timestamp-checked .pyc files stale); and the
cold-start benchmark builds its two layers, cronlane's and the bare Powertools baseline's, with
that same recipe."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

from benchmarks.cold_start import LAYERS, build_layers

HASH_BASED, CHECK_SOURCE = 0b01, 0b10  # the flags word of a .pyc (PEP 552)


def flags(pyc: Path) -> int:
    return int(struct.unpack("<I", pyc.read_bytes()[4:8])[0])


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_layers(tmp_path_factory.mktemp("layers"))


def test_each_module_of_both_layers_ships_its_unchecked_hash_bytecode(layers: dict[str, Path]) -> None:
    assert set(layers) == set(LAYERS) == {"cronlane", "baseline"}
    for side, layer in layers.items():
        sources = list(layer.rglob("*.py"))
        assert len(sources) > 100, side
        for source in sources:
            pyc = Path(importlib.util.cache_from_source(str(source)))
            assert pyc.is_file(), f"{side}: {source} has no bytecode"
            assert flags(pyc) == HASH_BASED, f"{side}: {pyc} is not unchecked-hash"
    # cronlane's layer holds the framework and its dependencies; the baseline's, Powertools alone
    assert (layers["cronlane"] / "cronlane" / "handlers" / "executor.py").is_file()
    assert (layers["baseline"] / "aws_lambda_powertools").is_dir()
    assert not (layers["baseline"] / "cronlane").exists()


def test_the_templates_build_the_layer_with_its_makefile() -> None:
    from samtranslator.yaml_helper import yaml_parse

    root = Path(__file__).resolve().parents[1]
    for app in (root / "examples" / "nightly-sync", root / "tests" / "fixture_app"):
        template = yaml_parse((app / "template.yaml").read_text())
        assert template["Resources"]["CoreLayer"]["Metadata"]["BuildMethod"] == "makefile", app
        makefile = (app / "layer" / "Makefile").read_text()
        assert "build-CoreLayer:" in makefile and "--invalidation-mode unchecked-hash" in makefile
    scaffold = root / "src" / "cronlane" / "scaffold" / "files" / "layer" / "Makefile.tmpl"
    assert scaffold.read_text() == (root / "examples" / "nightly-sync" / "layer" / "Makefile").read_text()
