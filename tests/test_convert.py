"""The PyTorch -> Topology converter on user-style modules (meta device), parse_input_shape and
the file.py:attr loader."""
from __future__ import annotations

import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from trafficsim.convert import load_user_model, parse_input_shape, to_topology
from trafficsim.errors import InputError, TopologyError
from trafficsim.topology import Layer, Op


class Branchy(nn.Module):
    """A shape-dependent `if`, a reused module, a functional conv on a bare Parameter and a torch.cat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.shared = nn.Conv2d(8, 8, 3, padding="same")
        self.w = nn.Parameter(torch.empty(4, 16, 1, 1))
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = self.stem(x)
        if x.shape[-1] > 8:  # shape-dependent control flow is fine on meta
            x = F.max_pool2d(x, 2)
        y = self.shared(x)
        y = self.shared(F.relu(y))
        z = torch.cat([x, y], dim=1)
        z = F.conv2d(z, self.w)
        z = F.adaptive_avg_pool2d(z, 1)
        return self.fc(torch.flatten(z, 1))


def _meta(cls, *args):
    with torch.device("meta"):
        return cls(*args)


def test_user_module_all_convs_names_and_graph():
    t = to_topology(_meta(Branchy), (3, 16, 16), name="branchy")
    assert [layer.name for layer in t.layers] == ["stem.0", "shared", "shared#2", "conv2d", "fc"]
    assert [layer.kind for layer in t.layers] == ["conv", "conv", "conv", "conv", "linear"]
    stem, s1, s2, fconv, fc = t.layers
    assert (stem.in_c, stem.in_h, stem.out_c, stem.out_h, stem.pad_h) == (3, 16, 8, 16, 1)
    assert (s1.in_h, s1.out_h, s1.pad_h, s1.kernel_h) == (8, 8, 1, 3)  # 'same' resolved to 1
    assert (fconv.in_c, fconv.out_c, fconv.kernel_h) == (16, 4, 1)
    assert (fc.in_c, fc.out_c, fc.in_h, fc.out_w) == (4, 10, 1, 1)
    assert [o.kind for o in t.ops] == ["batchnorm", "activation", "maxpool", "activation", "concat", "avgpool"]
    bn, relu, pool, relu2, cat, gap = t.ops
    # batch norm and activations are in place: they keep their input's tensor id (fused by default)
    assert (bn.name, relu.name, relu2.name) == ("stem.1", "stem.2", "relu")
    assert bn.inputs == relu.inputs == (stem.output,) and bn.output == relu.output == stem.output
    assert relu2.inputs == (s1.output,) == (relu2.output,)
    assert (pool.name, pool.kernel, pool.stride) == ("max_pool2d", 2, 2)
    tensors = {ti.id: ti for ti in t.tensors}
    assert tensors[0].producer == "input" and tensors[0].shape == (3, 16, 16)
    # the pool reads the conv's (normalised, activated) output
    assert stem.inputs == (0,) and pool.inputs == (stem.output,)
    assert s1.inputs == (pool.output,) and s2.inputs == (s1.output,)  # through F.relu
    assert cat.inputs == (pool.output, s2.output) and cat.input_shapes == ((8, 8, 8), (8, 8, 8))
    assert fconv.inputs == (cat.output,) and tensors[cat.output].shape == (16, 8, 8)
    assert fc.inputs == (gap.output,)  # through flatten
    assert tensors[fconv.output].producer == "conv2d"
    assert [n.order for n in t.nodes()] == list(range(len(t.layers) + len(t.ops)))
    assert t.params == sum(p.numel() for p in Branchy().parameters())
    assert t.input_shape == (3, 16, 16)


def test_shape_dependent_branch_changes_topology():
    t = to_topology(_meta(Branchy), (3, 8, 8))
    assert [o.kind for o in t.ops if not o.in_place] == ["concat", "avgpool"]  # no pool at 8x8
    assert t.layers[1].in_h == 8


def test_real_weights_are_not_moved_and_mode_restored():
    net = Branchy()  # real CPU weights
    net.train()
    t = to_topology(net, (3, 16, 16))
    assert net.stem[0].weight.device.type == "cpu" and net.training and net.stem[1].training
    assert not net.stem[0]._forward_pre_hooks and not net.stem[0]._forward_hooks
    assert t == to_topology(_meta(Branchy), (3, 16, 16))


class Misc(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dw = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=8, bias=False)  # channel multiplier 2
        self.grp = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=4)
        self.up = nn.ConvTranspose2d(16, 4, 4, stride=2, padding=1)
        self.proj = nn.Conv2d(8, 4, 1)
        self.tok = nn.Linear(4, 6)

    def forward(self, x):
        y = self.grp(self.dw(x))
        y = self.up(y)
        r = self.proj(x)
        y = y + r          # residual add of two feature maps
        y += r             # in-place add
        y = y * 2.0        # scalar: pass-through
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        tokens = y.flatten(2).transpose(1, 2)  # (1, HW, C)
        return self.tok(tokens)


def test_dwconv_grouped_dilated_transposed_add_upsample_gemm():
    t = to_topology(_meta(Misc), (8, 8, 8))
    dw, grp, up, proj, tok = t.layers
    assert (dw.kind, dw.groups, dw.out_c, dw.out_h, dw.is_depthwise) == ("dwconv", 8, 16, 4, True)
    assert (grp.kind, grp.groups, grp.dilation_h, grp.pad_h, grp.out_h) == ("dwconv", 4, 2, 2, 4)
    assert (up.transposed, up.in_h, up.out_h, up.stride_h, up.kernel_h) == (True, 4, 8, 2, 4)
    assert up.macs == 4 * 4 * 16 * 4 * 4 * 4
    assert proj.inputs == (0,)
    assert (tok.kind, tok.in_h, tok.in_w, tok.out_c) == ("gemm", 256, 4, 6)  # 16x16 tokens
    assert tok.macs == 256 * 4 * 6
    kinds = [o.kind for o in t.ops]
    assert kinds[:3] == ["add", "add", "upsample"]
    add1, add2, ups = t.ops[:3]
    assert add1.inputs == (up.output, proj.output)
    assert add2.inputs == (add1.output, proj.output)  # y += r rebinds y to the new sum
    assert ups.inputs == (add2.output,) and ups.output_shape == (4, 16, 16) and ups.kernel == 2


def test_names_without_dp_and_functional_at_top_level():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.convDP = nn.Conv2d(3, 3, 3, groups=3)

        def forward(self, x):
            return self.convDP(x) + F.conv2d(x, torch.empty(3, 3, 3, 3, device=x.device))

    t = to_topology(_meta(M), (3, 6, 6))
    assert [layer.name for layer in t.layers] == ["convD_P", "conv2d"]
    assert t.ops[0].name == "add"


def test_errors_are_one_line():
    with pytest.raises(TopologyError, match="no convolution or linear"):
        to_topology(_meta(nn.ReLU), (3, 8, 8))
    with pytest.raises(InputError):
        to_topology(_meta(Branchy), (3, 0, 8))
    with pytest.raises(InputError):
        to_topology(_meta(Branchy), (3, 8))
    with pytest.raises(TopologyError) as e:  # a 7x7 conv on a 2x2 input fails in the forward pass
        to_topology(_meta(lambda: nn.Conv2d(3, 4, 7)), (3, 2, 2))
    assert "\n" not in str(e.value) and "meta device" in str(e.value)
    with pytest.raises(TopologyError, match="nn.Module"):
        to_topology("resnet18")  # type: ignore[arg-type]


@pytest.mark.parametrize("text,expected", [("3x224x224", (3, 224, 224)), (" 1X32x64 ", (1, 32, 64)),
                                           ("3,8,8", (3, 8, 8)), ((3, 16, 16), (3, 16, 16))])
def test_parse_input_shape(text, expected):
    assert parse_input_shape(text) == expected


@pytest.mark.parametrize("bad", ["3x224", "3x0x224", "3x-1x4", "axbxc", "", "3x224x224x1", (3, 2.5, 4), "3x2.5x4"])
def test_parse_input_shape_rejects(bad):
    with pytest.raises(InputError):
        parse_input_shape(bad)


def test_load_user_model_instance_class_factory(tmp_path):
    f = tmp_path / "mynet.py"
    f.write_text(textwrap.dedent("""
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(3, 4, 3)
            def forward(self, x):
                return self.c(x)
        def make():
            return Net()
        model = Net()
        not_a_model = 3
    """))
    for attr in ("Net", "make", "model"):
        module, name = load_user_model(f"{f}:{attr}")
        assert isinstance(module, nn.Module) and name == attr
        assert module.c.weight.device.type == "meta"  # built on meta: no weights allocated
    with pytest.raises(InputError, match="no attribute 'Nett'"):
        load_user_model(f"{f}:Nett")
    with pytest.raises(InputError, match="no such file"):
        load_user_model(f"{tmp_path / 'missing.py'}:Net")
    with pytest.raises(InputError, match="not an nn.Module"):
        load_user_model(f"{f}:not_a_model")
    with pytest.raises(InputError):
        load_user_model(str(f))  # no :attr


# ---------------------------------------------------------------------------------------------
# A user's model file runs the user's code: whatever it does ends in one line
# ---------------------------------------------------------------------------------------------
_BASE = """
import sys
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.c(x)
"""


@pytest.mark.parametrize("body, attr, needle", [
    ("sys.exit(3)", "Net", "importing net.py called sys.exit(3)"),
    ("raise KeyboardInterrupt", "Net", "importing net.py raised KeyboardInterrupt"),
    ("def f():\n    raise ValueError('boom')", "f", "calling f() failed: ValueError: boom"),
    ("def f():\n    sys.exit(4)", "f", "calling f() called sys.exit(4)"),
    ("def f():\n    raise KeyboardInterrupt", "f", "calling f() raised KeyboardInterrupt"),
    ("class A(Net):\n    def forward(self, x):\n        sys.exit(5)", "A", "called sys.exit(5)"),
    ("class A(Net):\n    def forward(self, x):\n        raise KeyboardInterrupt", "A", "raised KeyboardInterrupt"),
    ("class A(Net):\n    def forward(self, x):\n        raise RuntimeError('nope')", "A", "failed: RuntimeError: nope"),
])
def test_user_code_failures_are_one_line(user_model_file, cli, body, attr, needle):
    path = user_model_file(_BASE + "\n" + body + "\n")
    line = cli(["info", f"{path}:{attr}"]).error_line()
    assert needle in line


def test_real_ctrl_c_during_a_user_model_interrupts(tmp_path, user_model_file):
    """SIGINT while a user's model is loading is an interruption (exit 130, one line), not the model's error."""
    import signal
    import subprocess
    import sys
    import time

    path = user_model_file(_BASE + "\nimport time\nprint('ready', flush=True)\ntime.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-m", "trafficsim", "info", f"{path}:Net"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130 and err.strip() == "trafficsim: interrupted", err
