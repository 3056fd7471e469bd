"""The compat engine against the real SCALE-Sim 3.0.0 on transformer GEMM rows (issue 14): a tiny decoder
(GQA attention through SDPA and through hand-written matmuls, a KV cache, a tied head) traced in prefill and
decode at batch 1 and 2; every field of every row equal, as in test_compat_vs_scalesim.py. Slow."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from test_compat_vs_scalesim import assert_same
from trafficsim.convert import to_topology
from trafficsim.engines import compat, scalesim_ref
from trafficsim.hardware import Hardware
from trafficsim.topology import expand_dp, scalesim_rows
from trafficsim.workload import with_workload

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).parent / "data"))
from tiny_decoder import TinyDecoder  # noqa: E402

CASES = {
    "decode-ctx5-b2-ws-4x4": (dict(phase="decode", context=5), 2,
                              Hardware(dataflow="ws", array_rows=4, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1,
                                       ofmap_sram_kb=1)),
    "prefill-seq6-os-8x4": (dict(seq_len=6), 1,
                            Hardware(dataflow="os", array_rows=8, array_cols=4, ifmap_sram_kb=1, filter_sram_kb=1,
                                     ofmap_sram_kb=1)),
    "prefill-seq5-b2-is-4x8": (dict(seq_len=5), 2,
                               Hardware(dataflow="is", array_rows=4, array_cols=8, ifmap_sram_kb=1, filter_sram_kb=1,
                                        ofmap_sram_kb=1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_transformer_rows_equal_to_scalesim(case, tmp_path):
    kw, batch, hw = CASES[case]
    with torch.device("meta"):
        model = TinyDecoder()
    topo = with_workload(to_topology(model, name="tiny", **kw), batch=batch)
    rows = expand_dp(scalesim_rows(topo))
    assert any(topo.layers[r.source_layer].operand_b == "kv_cache" for r in rows)
    ours = compat.simulate(topo, hw)
    ref = scalesim_ref.simulate(topo, hw)
    assert len(ours.layers) == len(rows)
    assert_same(ours, ref)
