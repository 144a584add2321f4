"""Image classification (ImageNet-1k EfficientNet-Lite0) and its mapping onto COCO classes."""
