"""Mapping what people ask for ('people', 'cars', 'sofa') onto a detector's class names."""

from __future__ import annotations

import re
from collections.abc import Iterable

COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip
"""The 80 COCO detection classes in their official order (class id = index)."""

SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": ("people", "man", "woman", "boy", "girl", "child", "kid", "human", "pedestrian",
               "guy", "lady", "player", "rider", "skier", "surfer", "adult", "persons"),
    "bicycle": ("bike", "cycle"),
    "car": ("automobile", "vehicle", "taxi", "cab", "sedan"),
    "motorcycle": ("motorbike", "scooter", "moped"),
    "airplane": ("plane", "aeroplane", "aircraft", "jet", "airliner"),
    "bus": ("coach", "autobus"),
    "train": ("locomotive", "tram"),
    "truck": ("lorry", "pickup"),
    "boat": ("ship", "canoe", "kayak", "sailboat", "yacht"),
    "bench": ("park bench",),
    "couch": ("sofa",),
    "tv": ("television", "tv monitor", "monitor", "screen"),
    "dining table": ("table", "desk", "dinner table"),
    "cell phone": ("phone", "mobile phone", "smartphone", "cellphone", "mobile"),
    "potted plant": ("plant", "houseplant", "flower pot"),
    "sports ball": ("ball", "football", "soccer ball", "tennis ball", "baseball", "basketball"),
    "donut": ("doughnut",),
    "handbag": ("purse", "bag"),
    "hair drier": ("hair dryer", "hairdryer"),
    "wine glass": ("glass", "wineglass"),
    "cup": ("mug",),
    "dog": ("puppy",),
    "cat": ("kitten", "kitty"),
    "cow": ("cattle", "bull", "calf"),
    "refrigerator": ("fridge",),
    "laptop": ("notebook computer", "computer"),
    "remote": ("remote control", "controller"),
    "teddy bear": ("teddy", "stuffed animal"),
    "traffic light": ("traffic signal", "stoplight"),
    "skis": ("ski",),
    "tie": ("necktie",),
    "suitcase": ("luggage",),
    "tennis racket": ("racket", "racquet"),
}  # fmt: skip

_IRREGULAR_SINGULAR = {
    "people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
    "knives": "knife", "geese": "goose", "sheep": "sheep", "skis": "skis", "scissors": "scissors",
    "buses": "bus", "glasses": "glass", "benches": "bench", "sandwiches": "sandwich",
    "couches": "couch", "boxes": "box", "dishes": "dish", "watches": "watch", "leaves": "leaf",
    "shelves": "shelf", "persons": "person", "cattle": "cow", "teeth": "tooth", "feet": "foot",
}  # fmt: skip


def normalise(text: str) -> str:
    """Lower case, articles dropped, spaces and punctuation collapsed."""
    words = re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("-", " ").replace("_", " ")).split()
    return " ".join(word for word in words if word not in {"a", "an", "the", "some", "any"})


def singular(word: str) -> str:
    """An English singular for a noun phrase's last word (good enough for object names)."""
    if not word:
        return word
    *head, last = word.split(" ")
    if last in _IRREGULAR_SINGULAR:
        last = _IRREGULAR_SINGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("ches", "shes", "sses", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return " ".join([*head, last])


def _aliases(class_name: str) -> set[str]:
    names = {class_name, *SYNONYMS.get(class_name, ())}
    return {singular(normalise(name)) for name in names}


def resolve_class(query: str, class_names: Iterable[str]) -> str | None:
    """The detector class that ``query`` names (synonyms and plurals understood), or None."""
    wanted = singular(normalise(query))
    names = list(class_names)
    for name in names:
        if singular(normalise(name)) == wanted:
            return name
    for name in names:
        if wanted in _aliases(name):
            return name
    return None


def canonical(term: str) -> str:
    """The COCO class a word names ('men' -> 'person'), else the word's normalised singular."""
    return resolve_class(term, COCO_CLASSES) or singular(normalise(term))


def label_matches(query: str, label: str) -> bool:
    """Whether a detection labelled ``label`` is what ``query`` asks for ('people' matches 'man')."""
    wanted = singular(normalise(query))
    return wanted in _aliases(label) or canonical(query) == canonical(label)
