"""Object detection: offline COCO detectors (NanoDet-m, CenterNet), YOLO and OWLv2 backends, LOC and FIND."""
