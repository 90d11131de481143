"""gcx.reference: loading and validating the reference profile, and its digest."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gcx.errors import ConfigError
from gcx.paths import default_reference_path
from gcx.reference import ReferenceProfile, load_profile, parse_profile

BENCHMARKS = ("gemm_fp64", "gemm_fp32", "gemm_tf32", "gemm_fp16", "gemm_bf16", "gemm_int8", "mem_triad")


def _scalar(value: Any) -> str:
    """A TOML scalar written differently from the shipped file (exponent floats, JSON strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"+{value}"
    if isinstance(value, float):
        return f"{value:.17e}"  # exact round trip, different text from "0.45"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[ " + " ,\n   ".join(_scalar(v) for v in value) + " , ]"
    raise TypeError(value)


def _reformat(data: dict[str, Any]) -> str:
    """Same content as ``data``, with tables and keys in reverse order, comments and odd spacing."""
    lines = ["# a reformatted copy of the reference profile", ""]

    def table(path: list[str], body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        subtables = {k: v for k, v in body.items() if isinstance(v, dict)}
        if scalars:
            lines.append(f"[ {'.'.join(path)} ]   # comment after a header")
            for k, v in reversed(scalars.items()):
                lines.append(f"   {k}   =   {_scalar(v)}  # trailing comment")
            lines.append("")
        for k, v in reversed(subtables.items()):
            table([*path, k], v)

    for key, body in reversed(data.items()):
        table([key], body)
    return "\n".join(lines) + "\n"


def test_shipped_profile_loads(shipped_profile: ReferenceProfile) -> None:
    p = shipped_profile
    assert p.profile.name == "gcx-ref-rtx3080"
    assert p.profile.version == 1
    assert p.profile.default_class == "ai"
    assert set(p.benchmarks) == set(BENCHMARKS)
    assert (p.benchmarks["gemm_fp64"].value, p.benchmarks["gemm_fp64"].unit) == (0.45, "TFLOP/s")
    assert (p.benchmarks["gemm_int8"].value, p.benchmarks["gemm_int8"].unit) == (175.0, "TOP/s")
    assert (p.benchmarks["mem_triad"].value, p.benchmarks["mem_triad"].unit) == (670.0, "GB/s")
    assert set(p.classes) == {"ai", "hpc"}
    assert p.substitutes["gemm_fp16"] == ["gemm_tf32", "gemm_fp32", "gemm_fp64"]
    assert p.reference_j_per_ch == 320.0 * 3600
    assert re.fullmatch(r"0x[0-9a-f]{64}", p.digest)
    assert p.ident() == {"name": "gcx-ref-rtx3080", "version": 1, "digest": p.digest}


def test_explicit_path_equals_default(shipped_profile: ReferenceProfile) -> None:
    assert load_profile(default_reference_path()).digest == shipped_profile.digest


def test_digest_is_stable_across_reformatting(
    tmp_path: Path, ref_data: dict[str, Any], shipped_profile: ReferenceProfile
) -> None:
    text = _reformat(ref_data)
    assert text != default_reference_path().read_text(encoding="utf-8")
    assert "4.00000000000000000e+00" in text  # the floats really are written differently
    path = tmp_path / "reformatted.toml"
    path.write_text(text, encoding="utf-8")
    copy = load_profile(path)
    assert copy.digest == shipped_profile.digest
    assert list(copy.benchmarks) != list(shipped_profile.benchmarks)  # really reordered


def test_digest_is_deterministic(ref_data: dict[str, Any]) -> None:
    assert parse_profile(ref_data, "a").digest == parse_profile(ref_data, "b").digest


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("benchmarks", "gemm_fp64", "value"), 0.46),
        (("benchmarks", "mem_triad", "unit"), "TB/s"),
        (("classes", "hpc", "weights", "gemm_fp64"), 0.51),
        (("grades", "performance", "A"), 4.5),
        (("profile", "power_w"), 321.0),
        (("profile", "version"), 2),
        (("substitutes", "gemm_fp32"), []),
    ],
)
def test_digest_changes_with_content(
    ref_data: dict[str, Any], shipped_profile: ReferenceProfile, path: tuple[str, ...], value: Any
) -> None:
    node = ref_data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    assert parse_profile(ref_data, "x").digest != shipped_profile.digest


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_profile(tmp_path / "nope.toml")


def test_corrupt_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[profile\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b"name = '\xff\xfe'\n")
    with pytest.raises(ConfigError):
        load_profile(path)


def test_typo_in_profile_key_is_named_with_suggestion(ref_data: dict[str, Any]) -> None:
    ref_data["profile"]["nmae"] = ref_data["profile"].pop("name")
    with pytest.raises(ConfigError) as err:
        parse_profile(ref_data, "my.toml")
    msg = str(err.value)
    assert "my.toml" in msg
    assert "profile.nmae" in msg
    assert "did you mean 'profile.name'" in msg


def test_typo_in_grades_section_is_named_with_suggestion(ref_data: dict[str, Any]) -> None:
    ref_data["grades"]["performence"] = ref_data["grades"].pop("performance")
    with pytest.raises(ConfigError, match=r"did you mean 'grades\.performance'"):
        parse_profile(ref_data, "my.toml")


def test_typo_in_benchmark_key_is_named(ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["gemm_fp64"]["valeu"] = ref_data["benchmarks"]["gemm_fp64"].pop("value")
    with pytest.raises(ConfigError) as err:
        parse_profile(ref_data, "my.toml")
    assert "benchmarks.gemm_fp64.valeu" in str(err.value)
    assert "my.toml" in str(err.value)


def test_typo_in_benchmark_key_suggests_the_right_one(ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["gemm_fp64"]["valeu"] = ref_data["benchmarks"]["gemm_fp64"].pop("value")
    with pytest.raises(ConfigError, match=r"did you mean 'benchmarks\.gemm_fp64\.value'"):
        parse_profile(ref_data, "my.toml")


def test_typo_in_class_key_suggests_the_right_one(ref_data: dict[str, Any]) -> None:
    ref_data["classes"]["hpc"]["wieghts"] = ref_data["classes"]["hpc"].pop("weights")
    with pytest.raises(ConfigError, match=r"did you mean 'classes\.hpc\.weights'"):
        parse_profile(ref_data, "my.toml")


def test_unknown_unit(ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["gemm_fp64"]["unit"] = "TFLOPS"
    with pytest.raises(ConfigError, match="unknown unit 'TFLOPS'"):
        parse_profile(ref_data, "my.toml")


def test_unknown_unit_names_file_and_benchmark(ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["gemm_fp64"]["unit"] = "TFLOPS"
    with pytest.raises(ConfigError) as err:
        parse_profile(ref_data, "my.toml")
    assert "my.toml" in str(err.value)
    assert "gemm_fp64" in str(err.value)


def test_class_weighting_unknown_benchmark(ref_data: dict[str, Any]) -> None:
    ref_data["classes"]["hpc"]["weights"]["gemm_fp128"] = 0.1
    with pytest.raises(ConfigError, match=r"classes\.hpc\.weights names 'gemm_fp128'.*no benchmark figure"):
        parse_profile(ref_data, "my.toml")


def test_class_with_zero_weights(ref_data: dict[str, Any]) -> None:
    ref_data["classes"]["hpc"]["weights"] = {"gemm_fp64": 0.0}
    with pytest.raises(ConfigError, match="positive sum"):
        parse_profile(ref_data, "my.toml")


def test_default_class_must_exist(ref_data: dict[str, Any]) -> None:
    ref_data["profile"]["default_class"] = "gaming"
    with pytest.raises(ConfigError, match="default_class"):
        parse_profile(ref_data, "my.toml")


def test_substitute_for_unknown_benchmark(ref_data: dict[str, Any]) -> None:
    ref_data["substitutes"]["gemm_fp8"] = ["gemm_fp16"]
    with pytest.raises(ConfigError, match=r"substitutes\.gemm_fp8"):
        parse_profile(ref_data, "my.toml")


def test_substitute_listing_itself(ref_data: dict[str, Any]) -> None:
    ref_data["substitutes"]["gemm_fp32"] = ["gemm_fp32"]
    with pytest.raises(ConfigError, match="lists itself"):
        parse_profile(ref_data, "my.toml")


def test_substitute_naming_unknown_benchmark(ref_data: dict[str, Any]) -> None:
    ref_data["substitutes"]["gemm_fp32"] = ["gemm_fp65"]
    with pytest.raises(ConfigError, match="gemm_fp65"):
        parse_profile(ref_data, "my.toml")


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("performance", {"A": 1.5, "B": 4.0, "C": 0.67}, "A > B > C"),
        ("performance", {"A": 4.0, "B": 1.5, "C": 1.5}, "A > B > C"),
        ("reliability", {"g1": 95.0, "g2": 99.0, "g3": 99.9}, "g1 > g2 > g3"),
        ("energy", {"X": 1.0, "Y": 0.5}, "X < Y"),
    ],
)
def test_thresholds_out_of_order(
    ref_data: dict[str, Any], section: str, values: dict[str, float], message: str
) -> None:
    ref_data["grades"][section] = values
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_profile(ref_data, "my.toml")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("benchmarks", "gemm_fp64", "value"), 0.0),
        (("benchmarks", "gemm_fp64", "value"), -1.0),
        (("benchmarks", "gemm_fp64", "value"), float("nan")),
        (("benchmarks", "gemm_fp64", "value"), float("inf")),
        (("benchmarks", "gemm_fp64", "value"), "0.45"),
        (("profile", "version"), 0),
        (("profile", "power_w"), 0.0),
        (("grades", "reliability", "g1"), 100.5),
        (("classes", "hpc", "weights", "gemm_fp64"), -0.5),
    ],
)
def test_bad_values(ref_data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = ref_data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=re.escape(".".join(path))):
        parse_profile(ref_data, "my.toml")


def test_bad_benchmark_name(ref_data: dict[str, Any]) -> None:
    ref_data["benchmarks"]["Gemm-FP64"] = ref_data["benchmarks"].pop("gemm_fp64")
    with pytest.raises(ConfigError):
        parse_profile(ref_data, "my.toml")
