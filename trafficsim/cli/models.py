"""``trafficsim list``, ``trafficsim info`` and ``trafficsim convert``: the model zoo, per-layer metrics,
and SCALE-Sim topology CSVs from zoo models, user models or other CSVs."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import app
from .common import BatchOpt, ContextOpt, InputOpt, PhaseOpt, PrecisionOpt, SeqOpt, StrictOpt
from ..errors import InputError
from ..files import atomic_write_text
from ..inputs import resolve_topology
from ..topology import Layer, Topology, topology_csv_text

SpecArg = Annotated[str, typer.Argument(
    help="A zoo model name (see 'trafficsim list'), path/to/file.py:attr for your own nn.Module, "
         "or a SCALE-Sim topology CSV.", metavar="MODEL")]


def _shape(s) -> str:
    return "x".join(map(str, s))


def input_label(t: Topology) -> str:
    """What a topology was traced at: ``3x224x224``, ``seq 128``, ``prefill 2048``, ``decode @4096``."""
    if t.input_shape is not None:
        return "x".join(map(str, t.input_shape))
    if t.phase == "decode":
        return f"decode @{t.context}"
    if t.phase == "prefill":
        return f"prefill {t.seq_len}"
    if t.seq_len is not None:
        return f"seq {t.seq_len}"
    return "CSV"


def _millions(n: int) -> str:
    return f"{n / 1e6:,.2f} M"


def _giga(n: int) -> str:
    return f"{n / 1e9:,.3f} G"


@app.command("list")
def list_cmd(
    pattern: Annotated[Optional[str], typer.Argument(help="Only models matching this (e.g. 'resnet*', 'dense').")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list with raw counts.")] = False,
) -> None:
    """List the zoo models with parameters, MACs and CIO (HarDNet paper conventions) at their default input."""
    from ..metrics import model_metrics
    from ..zoo import list_models
    from ..zoo.cache import default_input_shape, model_topology

    names = list_models(pattern)
    if not names:
        raise InputError(f"no zoo model matches {pattern!r}; run 'trafficsim list' for all models")
    rows = []
    for name in names:
        t = model_topology(name)
        m = model_metrics(t)
        m["input"] = input_label(t) if t.input_shape is None else "x".join(map(str, t.input_shape))
        rows.append(m)
    if as_json:
        print(json.dumps([{k: r[k] for k in ("model", "input", "params", "macs", "cio", "layers")} for r in rows],
                         indent=1))
        return
    from .tables import Column, console, dropped_note, fitted_table

    columns = [Column("model", "left"), Column("input", "left", drop=2), Column("layers", drop=3),
               Column("params"), Column("MACs"), Column("CIO"), Column("MACs/CIO", drop=1)]
    cells = [[r["model"], r["input"], str(r["layers"]), f"{r['params']:,}", _giga(r["macs"]),
              _millions(r["cio"]) if r["cio"] else "-", f"{r['moc']:.0f}" if r["moc"] else "-"] for r in rows]
    out = console()
    table, dropped = fitted_table(columns, cells, out.width, title="trafficsim model zoo")
    out.print(table)
    note = dropped_note(dropped, out.width)
    if note:
        out.print(note)


@app.command(no_args_is_help=True)
def info(
    model: SpecArg,
    input_shape: InputOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {model, params, macs, cio, layers: [...]} as JSON "
                                          "with raw integer counts.")] = False,
    all_convs: Annotated[bool, typer.Option("--all-convs", help="Count every conv in CIO (the paper leaves out "
                                            "stand-alone stride-2 depthwise downsampling convs).")] = False,
    strict: StrictOpt = False,
    seq_len: SeqOpt = None,
    phase: PhaseOpt = None,
    context: ContextOpt = None,
) -> None:
    """Per-layer shapes, MACs, weights, CIO and MACs/CIO of MODEL, and the totals, and any op not modelled."""
    from ..metrics import layer_metrics, model_metrics
    from ..topology import unmodelled_summary

    topology = resolve_topology(model, input_shape, seq_len=seq_len, phase=phase, context=context)
    if strict:
        topology.check_modelled()
    paper = not all_convs
    rows = layer_metrics(topology, paper=paper)
    totals = model_metrics(topology, paper=paper)
    if as_json:
        doc = {"model": totals["model"], "input": list(topology.input_shape) if topology.input_shape else None,
               "params": totals["params"], "macs": totals["macs"], "cio": totals["cio"], "layers": rows,
               "ops": [{"name": o.name, "kind": o.kind, "input_shapes": [list(x) for x in o.input_shapes],
                        "output_shape": list(o.output_shape), "kernel": o.kernel, "stride": o.stride, "order": o.order}
                       for o in topology.ops],
               "unmodelled": [{"name": u.name, "function": u.function, "macs": u.macs} for u in topology.unmodelled]}
        print(json.dumps(doc, indent=1))
        return
    from .tables import Column, dropped_note, fitted_table
    from .tables import console as make_console

    shape = input_label(topology)
    # narrow terminals lose MoC first, then weights, input, CIO, kernel, output and kind; never # and names
    columns = [Column("#"), Column("layer / op", "left"), Column("kind", "left", drop=3), Column("input", drop=7),
               Column("output", drop=4), Column("kernel/s", drop=5), Column("MACs"), Column("weights", drop=8),
               Column("CIO", drop=6), Column("MoC", drop=9)]
    cells = []
    metrics = iter(rows)
    index = 0
    for node in topology.nodes():  # layers and the ops between them (pooling, add, concat...), in order
        if isinstance(node, Layer):
            r = next(metrics)
            kind = r["kind"] + (f"/g{r['groups']}" if r["groups"] > 1 else "")
            cells.append([str(index), r["name"], kind, _shape(r["in_shape"]), _shape(r["out_shape"]),
                          f"{_shape(r['kernel'])}/{r['stride'][0]}", f"{r['macs']:,}", f"{r['params']:,}",
                          f"{r['cio']:,}" if r["cio"] else "-", f"{r['moc']:.1f}" if r["moc"] else "-"])
            index += 1
        else:
            ins = "+".join(_shape(s) for s in node.input_shapes) if node.kind == "concat" else (
                _shape(node.input_shapes[0]) if node.input_shapes else "-")
            geometry = f"{node.kernel}x{node.kernel}/{node.stride}" if node.kernel else "-"
            cells.append(["", node.name, node.kind, ins, _shape(node.output_shape), geometry, "-", "-", "-", "-"])
    console = make_console()
    table, dropped = fitted_table(columns, cells, console.width, title=f"{topology.name} ({shape})")
    console.print(table)
    note = dropped_note(dropped, console.width)
    if note:
        console.print(note)
    n_ops = len(topology.ops)
    console.print(f"[bold]{topology.name}[/]: {totals['layers']} layers" + (f" and {n_ops} ops" if n_ops else "")
                  + f", params {_millions(totals['params'])}, MACs {_giga(totals['macs'])}, "
                  f"CIO {_millions(totals['cio'])}" + (f", MACs/CIO {totals['moc']:.1f}" if totals["moc"] else ""))
    if topology.unmodelled:
        console.print(f"[bold red]not modelled[/] ({len(topology.unmodelled)} op(s), left out of every run): "
                      f"{unmodelled_summary(topology.unmodelled)}", highlight=False)
        for u in topology.unmodelled:
            console.print(f"  {u.name}: {u.function}" + (f", {u.macs:,} MACs" if u.macs else ""), highlight=False)


@app.command(no_args_is_help=True)
def convert(
    model: SpecArg,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file: .csv (SCALE-Sim topology) or "
                                                 ".json (trafficsim topology). Default: the CSV on stdout.")] = None,
    input_shape: InputOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="CSV format: conv (SCALE-Sim's default) or gemm "
                                     "(M, N, K rows, depthwise layers expanded per channel).")] = "conv",
    strict: StrictOpt = False,
    seq_len: SeqOpt = None,
    phase: PhaseOpt = None,
    context: ContextOpt = None,
    batch: BatchOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Write MODEL as a SCALE-Sim topology CSV (padding folded into the IFMAP size so SCALE-Sim's output sizes
    equal the model's; depthwise convs as DP rows). Example: trafficsim convert hardnet68 -o hardnet68.csv"""
    if fmt not in ("conv", "gemm"):
        raise InputError(f"--format {fmt!r}: choose conv or gemm")
    topology = resolve_topology(model, input_shape, seq_len=seq_len, phase=phase, context=context, batch=batch,
                                precision=precision)
    if strict:
        topology.check_modelled()
    elif topology.unmodelled:
        from ..engines import warn_unmodelled

        warn_unmodelled(topology)
    if out is not None and out.suffix.lower() == ".json":
        from ..zoo.export import topology_json_text

        atomic_write_text(out, topology_json_text(topology))
        text = None
    else:
        text = topology_csv_text(topology, fmt)  # type: ignore[arg-type]
        if out is None:
            sys.stdout.write(text)
            return
        atomic_write_text(out, text)
    print(f"wrote {out} ({len(topology.layers)} layers of {topology.name})", file=sys.stderr)
