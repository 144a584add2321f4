"""Segmentation: box-prompted masks from SAM-family models, FastSAM, or classical GrabCut."""
