"""The one input layer (trafficsim.inputs): every way of naming a model or hardware resolves the same
way from the CLI, sweeps and the Python API, and every bad value is a one-line TrafficsimError."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import trafficsim as ts
from trafficsim.errors import InputError, TrafficsimError
from trafficsim.hardware import INT64_MAX, Hardware
from trafficsim.inputs import (DEFAULT_INPUT_SHAPE, apply_options, parse_input_shape, resolve_hardware,
                               resolve_topology, spec_kind)

NET = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.a(x)

model = Net()
"""


def test_default_input_shape_is_the_one_constant():
    from trafficsim import convert
    from trafficsim.zoo.cache import default_input_shape

    assert DEFAULT_INPUT_SHAPE == (3, 224, 224) and convert.DEFAULT_INPUT_SHAPE is DEFAULT_INPUT_SHAPE
    assert default_input_shape("resnet18") == DEFAULT_INPUT_SHAPE
    assert default_input_shape("segnet") == (3, 360, 480)


@pytest.mark.parametrize("spec,kind", [
    ("resnet18", "zoo"), ("HarDNet-68", "zoo"), ("net.py:model", "user"), ("a/b/net.py:Net", "user"),
    ("x.csv", "csv"), ("X.CSV", "csv"), ("dir/topology", "csv"), ("t.json", "json"),
])
def test_spec_kind(spec, kind):
    assert spec_kind(spec) == kind


def test_resolve_each_kind(tmp_path, small_csv, user_model_file):
    zoo = resolve_topology("resnet18")
    assert zoo.name == "resnet18" and zoo.input_shape == DEFAULT_INPUT_SHAPE
    assert resolve_topology(zoo) is zoo
    csv = resolve_topology(small_csv)  # a Path
    assert [layer.name for layer in csv.layers] == ["c1", "c2DP"]
    assert resolve_topology(str(small_csv)) == csv
    bare = tmp_path / "topology"  # an existing file without a suffix is a CSV
    bare.write_text(small_csv.read_text())
    assert [layer.name for layer in resolve_topology(bare).layers] == ["c1", "c2DP"]
    js = tmp_path / "t.json"
    zoo.to_json(js)
    assert resolve_topology(js) == zoo
    net = user_model_file(NET)
    user = resolve_topology(f"{net}:model")
    assert user.input_shape == DEFAULT_INPUT_SHAPE and user.layers[0].out_h == 222
    assert resolve_topology(f"{net}:Net", "3x10x10").layers[0].out_h == 8


def test_user_models_are_named_after_their_file(user_model_file):
    a = user_model_file(NET, "net.py")
    b = user_model_file(NET, "sub/attn.py")
    ta, tb = resolve_topology(f"{a}:model"), resolve_topology(f"{b}:model")
    assert (ta.name, tb.name) == ("net.model", "attn.model")


@pytest.mark.parametrize("spec,shape,fmt,needle", [
    ("", None, None, "empty"),
    ("   ", None, None, "empty"),
    (42, None, None, "not a int"),
    (None, None, None, "not a NoneType"),
    ("res\0net", None, None, "NUL"),
    ("resnet18", "", None, "input shape ''"),
    ("resnet18", "3x0x8", None, "positive"),
    ("resnet18", f"3x{2**64}x8", None, "int64"),
    ("resnet18", None, "gemm", "--format applies to CSV"),
    ("resnet18", None, "xyz", "conv or gemm"),
    ("nosuchmodel", None, None, "unknown model"),
    ("missing.csv", None, None, "no such topology file"),
    ("dir/missing", None, None, "no such topology file"),
])
def test_resolve_topology_rejects(spec, shape, fmt, needle):
    with pytest.raises(TrafficsimError) as e:
        resolve_topology(spec, shape, fmt)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_resolve_topology_rejects_options_for_files(small_csv):
    with pytest.raises(InputError, match="--input applies to models"):
        resolve_topology(small_csv, "3x8x8")
    with pytest.raises(InputError, match="apply to model names"):
        resolve_topology(resolve_topology(small_csv), "3x8x8")


@pytest.mark.parametrize("text,expected", [("3x224x224", (3, 224, 224)), ("1,8,8", (1, 8, 8)), ((3, 4, 5), (3, 4, 5))])
def test_parse_input_shape(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("bad", ["", "3x224", "3xax4", (3, 4), (3, 4.5, 5), (True, 4, 5), f"1x1x{INT64_MAX + 1}"])
def test_parse_input_shape_rejects(bad):
    with pytest.raises(InputError):
        parse_input_shape(bad)


def test_apply_options():
    hw = apply_options(array="16x8", dataflow="OS", sram="512,512,256", bandwidth="4,5,6", clock_mhz=None,
                       ifmap_bank_num=2, filter_bank_num=5)
    assert (hw.array_rows, hw.array_cols, hw.dataflow) == (16, 8, "os")
    assert (hw.ifmap_sram_kb, hw.filter_sram_kb, hw.ofmap_sram_kb) == (512, 512, 256)
    assert (hw.bandwidth_mode, hw.ifmap_dram_bw, hw.filter_dram_bw, hw.bandwidth) == ("USER", 4, 5, 6)
    assert hw.ifmap_bank_num == 2 and hw.clock_mhz == Hardware().clock_mhz
    assert apply_options(hw, bandwidth="calc").bandwidth_mode == "CALC"
    assert apply_options(array=(4, 4), sram=32, bandwidth=20).ifmap_dram_bw == 20
    base = Hardware(array_rows=3)
    assert apply_options(base) is base


@pytest.mark.parametrize("kwargs,needle", [
    ({"array": "99999999999999999999x1"}, "int64"),
    ({"array": f"{INT64_MAX + 1}x1"}, "int64"),
    ({"sram": "99999999999999999999"}, "int64"),
    ({"bandwidth": "99999999999999999999"}, "int64"),
    ({"bandwidth": "0"}, "positive"),
    ({"dataflow": "xs"}, "dataflow"),
    ({"ifmap_bank_num": 2**70}, "int64"),
    ({"word_bytes": 2}, "no longer a hardware field: element sizes are the workload's precision"),
    ({"dram_bandwidth_gbs": math.inf}, "DRAM bandwidth must be a positive"),
    ({"clock_mhz": math.inf}, "finite"),
    ({"clock_mhz": math.nan}, "finite"),
    ({"clock_mhz": "fast"}, "finite"),
    ({"array_rows": [1, 2]}, "positive integer"),
    ({"nonsense": 1}, "unknown hardware field"),
])
def test_apply_options_rejects(kwargs, needle):
    with pytest.raises(InputError) as e:
        apply_options(**kwargs)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_resolve_hardware(tmp_path):
    assert resolve_hardware(None) == Hardware()
    assert resolve_hardware("eyeriss").array == "12x14"
    assert resolve_hardware("8x4").array == "8x4"
    cfg = tmp_path / "a.cfg"
    Hardware(array_rows=7).write_cfg(cfg)
    assert resolve_hardware(cfg).array_rows == 7 and resolve_hardware(str(cfg)).array_rows == 7
    with pytest.raises(InputError, match="not a preset"):
        resolve_hardware("gpu")
    with pytest.raises(InputError, match="not a int"):
        resolve_hardware(32)


def test_python_api_takes_names_and_paths(small_csv):
    by_name = ts.simulate(str(small_csv), "8x8")
    by_object = ts.simulate(ts.read_csv(small_csv), Hardware(array_rows=8, array_cols=8))
    assert by_name.totals() == by_object.totals()
    with pytest.raises(InputError):
        ts.simulate(small_csv, 32)
    with pytest.raises(InputError):
        ts.simulate(3.5)


def _without_torch(*argv: str):
    """Run the CLI in a child where ``import torch`` fails, as in an install without the [torch] extra."""
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None\nfrom trafficsim.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=600)


def test_main_job_runs_without_torch(small_csv):
    p = _without_torch("run", "hardnet68", "--array", "32x32", "--no-write", "-q")
    assert p.returncode == 0, p.stderr
    p = _without_torch("info", str(small_csv))
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("argv", [("info", "resnet18", "--input", "3x32x32"), ("info", "{net}:model")])
def test_torch_missing_is_one_line_with_the_install_command(user_model_file, argv):
    net = user_model_file(NET)
    p = _without_torch(*(a.format(net=net) for a in argv))
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "needs PyTorch" in lines[0] and "trafficsim[torch]" in lines[0] and "whl/cpu" in lines[0]
