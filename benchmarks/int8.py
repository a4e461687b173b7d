"""int8 CenterFace, the recipe of issue 15 item 3, done once: build, speed, recall.

    python benchmarks/int8.py build    # -> benchmarks/out/int8/centerface_int8.onnx
    python benchmarks/int8.py speed    # CPU s of CenterFaceDetector.detect, fp32 vs int8
    python benchmarks/int8.py recall [--model fp32|int8|both] [--fast]
    python benchmarks/int8.py all      # the three, results in benchmarks/results/int8.json

Recipe: onnxruntime static quantisation in QDQ format, per-channel symmetric int8 weights,
asymmetric uint8 activations, MinMax calibration; the first convolution and the four output
heads (the 1x1 convs giving heatmap, scale, offset and landmarks) stay in float
(``nodes_to_exclude``). Calibration data: every CenterFace input (tile, resized copy, mirrored,
turned and edge pass, second-look crop) that the shipped photo detector (the ensemble) feeds the
model on the 12 photos of WIDER's "Parade" event in ``wider_val_b`` (``0_Parade_*``: 890 faces,
crowds and marching bands). Those photos are also scored, so recall on ``wider_val_b`` is
optimistic for int8.

Recall: ``accuracy.run`` as ``--gate`` runs it (the shipped ensemble, built by
``detect.factory`` without the cache; every dev face set, the 12 MP mosaics and the turned
photos; no residual check), once with CenterFace's session from the shipped fp32 model and once
from the int8 model, both loaded by the same benchmark-only loader at one thread
(``faces._load_session`` swapped; the shipped code is unchanged).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import accuracy  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "int8"
INT8 = OUT / "centerface_int8.onnx"
RESULTS = ROOT / "benchmarks" / "results" / "int8.json"
CROWD_SET = "wider_val_b"
CROWD_PREFIX = "0_Parade_"  # WIDER event 0--Parade (Parade and marchingband photos)
HEAD_OUTPUTS = ("536", "538", "539", "540")  # pos (before the sigmoid), reg, off, landmarks


def fp32_path() -> Path:
    from anonymiser.models import resolve_model

    return Path(resolve_model("centerface"))


def session_loader(path: Path):  # type: ignore[no-untyped-def]
    """A stand-in for ``faces._load_session``: ``path`` on the CPU at one thread."""

    def load(threads: int = 1, device: str = "cpu") -> object:
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    return load


def use_model(path: Path) -> None:
    from anonymiser.detect import faces

    faces._load_session = session_loader(path)  # type: ignore[assignment]


# -- build ------------------------------------------------------------------------------------


def crowd_photos(data: Path) -> list[Path]:
    folder = data / "face_detection" / CROWD_SET
    names = json.loads((folder / "faces.json").read_text())
    return sorted(folder / n for n in names if n.startswith(CROWD_PREFIX))


class _Recorder:
    """Wraps an onnxruntime session: keeps every input blob (uint8: CenterFace is fed raw
    pixel values, zero-padded) and passes the call on."""

    def __init__(self, session: object) -> None:
        self.session = session
        self.blobs: list[np.ndarray] = []

    def run(self, outputs, feed):  # type: ignore[no-untyped-def]
        blob = next(iter(feed.values()))
        as_u8 = blob.astype(np.uint8)
        assert np.array_equal(as_u8, blob), "CenterFace input is not integral"
        self.blobs.append(as_u8)
        return self.session.run(outputs, feed)  # type: ignore[attr-defined]


def calibration_blobs(data: Path) -> tuple[list[np.ndarray], list[str]]:
    """Every blob the shipped photo detector feeds CenterFace on the crowd photos (fp32 run)."""
    from anonymiser.detect import faces
    from anonymiser.detect.factory import DetectorUse, face_detector
    from anonymiser.settings import Settings

    use_model(fp32_path())
    s = Settings()
    det = face_detector(s, DetectorUse.PHOTO, threads=1)
    primary = getattr(det, "primary", det)
    assert isinstance(primary, faces.CenterFaceDetector), type(primary)
    rec = _Recorder(primary._session)
    primary._session = rec
    photos = crowd_photos(data)
    for p in photos:
        before = len(rec.blobs)
        det.detect(accuracy.load_rgb(p), s.face_threshold)
        print(f"calibration: {p.name}: {len(rec.blobs) - before} blobs", file=sys.stderr)
    return rec.blobs, [p.name for p in photos]


def _prepared(source: Path, target: Path) -> None:
    """Opset 9 -> 13 (per-channel QDQ needs >= 13), every node named after its first output,
    then ``quant_pre_process`` (folds BatchNorm; ONNX shape inference only: no sympy)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = version_converter.convert_version(onnx.load(str(source)), 13)
    for node in model.graph.node:
        node.name = f"{node.op_type}_{node.output[0]}"
    staged = target.with_suffix(".opset13.onnx")
    onnx.save(model, str(staged))
    quant_pre_process(str(staged), str(target), skip_symbolic_shape=True)


def _float_nodes(model_path: Path) -> list[str]:
    """The first Conv (the one reading the input) and the four head Convs."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    first = [n.name for n in graph.node if n.op_type == "Conv" and "input.1" in n.input]
    heads = [n.name for n in graph.node if n.op_type == "Conv" and n.output[0] in HEAD_OUTPUTS]
    assert len(first) == 1 and len(heads) == 4, (first, heads)
    return first + heads


def build(data: Path) -> dict[str, Any]:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.process_time()
    blobs, names = calibration_blobs(data)
    t_record = time.process_time() - t0
    prepared = OUT / "centerface_prepared.onnx"
    _prepared(fp32_path(), prepared)
    keep_float = _float_nodes(prepared)

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(blobs)

        def get_next(self) -> dict[str, Any] | None:
            blob = next(self._it, None)
            return None if blob is None else {"input.1": blob.astype(np.float32)}

    t0 = time.process_time()
    quantize_static(
        str(prepared),
        str(INT8),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=keep_float,
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
    )
    t_quant = time.process_time() - t0
    shapes: dict[str, int] = {}
    for b in blobs:
        key = f"{b.shape[2]}x{b.shape[3]}"
        shapes[key] = shapes.get(key, 0) + 1
    info = {
        "calibration_photos": names,
        "calibration_blobs": len(blobs),
        "calibration_shapes_top": dict(sorted(shapes.items(), key=lambda kv: -kv[1])[:8]),
        "calibration_pixels_mpx": round(sum(b.shape[2] * b.shape[3] for b in blobs) / 1e6, 1),
        "nodes_kept_float": keep_float,
        "record_cpu_s": round(t_record, 1),
        "quantize_cpu_s": round(t_quant, 1),
        "int8_bytes": INT8.stat().st_size,
        "fp32_bytes": fp32_path().stat().st_size,
    }
    print(json.dumps(info, indent=1), file=sys.stderr)
    return info


# -- speed ------------------------------------------------------------------------------------


def speed_photos(data: Path) -> dict[str, np.ndarray]:
    """A 12 MP photo (the native mosaic of accuracy.py: 4096x3072, every WIDER and dlib dev
    photo pasted at native size) and one WIDER photo (1024 px, a school class)."""
    wider = data / "face_detection" / "wider_val_simpleaicv"
    dlib = data / "face_detection" / "dlib_pascal_voc"
    items = [(wider / n, np.zeros((0, 4))) for n in json.loads((wider / "faces.json").read_text())]
    items += [(dlib / n, np.zeros((0, 4))) for n in json.loads((dlib / "faces.json").read_text())]
    mosaic, _ = accuracy._mosaic(items, 1, seed=1)
    school = accuracy.load_rgb(wider / "29_Students_Schoolkids_Students_Schoolkids_29_146.jpg")
    return {"12mp_mosaic": mosaic, "wider_schoolkids": school}


def speed(data: Path, runs: int = 3) -> dict[str, Any]:
    from anonymiser.detect.factory import DetectorUse, face_detector
    from anonymiser.settings import Settings

    photos = speed_photos(data)
    out: dict[str, Any] = {}
    # "centerface": CenterFaceDetector.detect (the ensemble's CenterFace, as the factory builds
    # it); "ensemble": the shipped photo detector (CenterFace, libfacedetection, second look).
    # fp32 and int8 runs alternate, so that load from other jobs falls on both alike.
    for detector, ensemble in (("centerface", False), ("ensemble", True)):
        s = Settings(second_face_detector=ensemble)
        dets = {}
        for model, path in (("fp32", fp32_path()), ("int8", INT8)):
            use_model(path)
            dets[model] = face_detector(s, DetectorUse.PHOTO, threads=1)
        for name, rgb in photos.items():
            times: dict[str, list[float]] = {m: [] for m in dets}
            for det in dets.values():
                det.detect(rgb, s.face_threshold)  # warm-up
            for _ in range(runs):
                for model, det in dets.items():
                    t = time.process_time()
                    det.detect(rgb, s.face_threshold)
                    times[model].append(time.process_time() - t)
            for model, ts in times.items():
                out[f"{detector}/{model}/{name}"] = {
                    "median_cpu_s": round(statistics.median(ts), 3),
                    "runs": [round(x, 3) for x in ts],
                }
                print(f"speed {detector} {model} {name}: {ts}", file=sys.stderr)
            fp32, int8 = (out[f"{detector}/{m}/{name}"]["median_cpu_s"] for m in ("fp32", "int8"))
            out[f"{detector}/speedup/{name}"] = round(fp32 / int8, 2)
    return out


# -- recall -----------------------------------------------------------------------------------


def recall(data: Path, model: str, fast: bool = False) -> dict[str, Any]:
    use_model(fp32_path() if model == "fp32" else INT8)
    t = time.process_time()
    r = accuracy.run(data, fast=fast, residual=False, tools=("anonymiser",), cache=False)
    r["anonymiser"]["cpu_s"] = round(time.process_time() - t, 1)
    return dict(r["anonymiser"])


def calibration_split(recall_results: dict[str, Any], data: Path) -> dict[str, Any]:
    """wider_val_b hard-subset recall on the calibration photos and on the other photos."""
    folder = data / "face_detection" / CROWD_SET
    faces = json.loads((folder / "faces.json").read_text())
    attrs = json.loads((folder / "wider_attributes.json").read_text())
    totals = {"calibration": 0, "held_out": 0}
    for name, boxes in faces.items():
        gt = np.array(boxes, float).reshape(-1, 4)
        a = attrs[name]
        idx = np.array(a["hard_idx_1based"], int) - 1
        valid = (gt[idx, 2] > 1) & (gt[idx, 3] > 1) & (np.array(a["invalid"], int)[idx] == 0)
        totals["calibration" if name.startswith(CROWD_PREFIX) else "held_out"] += int(valid.sum())
    out: dict[str, Any] = {}
    for model, r in recall_results.items():
        missed = r["sets"][CROWD_SET]["missed"]
        for group, total in totals.items():
            cal = group == "calibration"
            miss = sum(1 for m in missed if m.startswith(CROWD_PREFIX) == cal)
            out[f"{model}/hard/{group}"] = [total - miss, total]
    return out


def compare_table(results: dict[str, Any]) -> str:
    return accuracy.table({k: results[k] for k in ("fp32", "int8") if k in results})


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("what", choices=("build", "speed", "recall", "all", "table"))
    ap.add_argument("--data", type=Path, default=accuracy.DEFAULT_DATA)
    ap.add_argument("--model", choices=("fp32", "int8", "both"), default="both")
    ap.add_argument("--fast", action="store_true", help="recall: skip mosaics and turned photos")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    if args.what in ("build", "all"):
        results["build"] = build(args.data)
    if args.what in ("speed", "all"):
        results["speed"] = speed(args.data)
    if args.what in ("recall", "all"):
        for m in ("fp32", "int8") if args.model == "both" else (args.model,):
            results.setdefault("recall", {})[m] = recall(args.data, m, args.fast)
            args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.what != "table":
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if "recall" in results:
        if {"fp32", "int8"} <= set(results["recall"]):
            results["calibration_split"] = calibration_split(results["recall"], args.data)
            args.json.write_text(json.dumps(results, indent=1) + "\n")
            print(json.dumps(results["calibration_split"]))
        print(compare_table(results["recall"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
