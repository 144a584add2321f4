"""COCO-format datasets: find the annotation file and image folder, and load them with pycocotools."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pycocotools.coco import COCO
from visorch.evaluation.errors import DatasetLayoutError

LAYOUT_HELP = (
    "give a COCO annotation file (annotations/instances_SPLIT.json, with images in SPLIT/ beside "
    "annotations/) or the folder that holds annotations/ and SPLIT/"
)


@dataclass(frozen=True)
class CocoDataset:
    """A COCO annotation file and the folder its ``file_name`` entries are relative to."""

    annotation_file: Path
    image_dir: Path

    @cached_property
    def coco(self) -> COCO:
        """The annotations, loaded once (pycocotools' progress prints are swallowed)."""
        with contextlib.redirect_stdout(io.StringIO()):
            return COCO(str(self.annotation_file))

    @cached_property
    def category_names(self) -> dict[int, str]:
        """Category id -> name."""
        return {category["id"]: category["name"] for category in self.coco.loadCats(self.coco.getCatIds())}

    @property
    def split(self) -> str:
        """The COCO split the annotation file names ('val2017' for instances_val2017.json)."""
        match = re.fullmatch(r"instances_(.+)\.json", self.annotation_file.name)
        return match.group(1) if match else self.annotation_file.stem

    def split_label(self) -> str:
        """The split for figures' labels, with a warning when the offline detectors trained on it."""
        label = f"COCO {self.split} ({self.annotation_file.parent.parent.name})"
        if self.split.startswith("train"):
            label += ": the offline detectors' training split, so figures are optimistic"
        return label

    def image_path(self, image_id: int) -> Path:
        """Where image ``image_id`` lives."""
        return self.image_dir / self.coco.imgs[image_id]["file_name"]

    def objects_by_image(self) -> dict[int, set[str]]:
        """Category names annotated on each image (crowd regions included), for every image."""
        present: dict[int, set[str]] = {image_id: set() for image_id in self.coco.getImgIds()}
        for annotation in self.coco.dataset["annotations"]:
            present[annotation["image_id"]].add(self.category_names[annotation["category_id"]])
        return present


def _image_dir_for(annotation_file: Path) -> Path | None:
    match = re.fullmatch(r"instances_(.+)\.json", annotation_file.name)
    split = match.group(1) if match else annotation_file.stem
    folder = annotation_file.parent
    for candidate in (
        folder.parent / split,
        folder / split,
        folder.parent / "images" / split,
        folder.parent / "images",
    ):
        if candidate.is_dir():
            return candidate
    return None


def open_coco(path: Path) -> CocoDataset:
    """The COCO dataset at ``path`` (an annotation file, or a folder holding annotations/)."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = sorted((path / "annotations").glob("instances_*.json")) or sorted(path.glob("instances_*.json"))
        if len(found) != 1:
            names = ", ".join(str(file) for file in found) or "none"
            raise DatasetLayoutError(f"{path} holds {len(found)} instances_*.json files ({names}); {LAYOUT_HELP}")
        path = found[0]
    if not path.is_file():
        raise DatasetLayoutError(f"no COCO annotation file at {path}; {LAYOUT_HELP}")
    image_dir = _image_dir_for(path)
    if image_dir is None:
        raise DatasetLayoutError(f"no image folder found for {path}; {LAYOUT_HELP}")
    return CocoDataset(annotation_file=path, image_dir=image_dir)
