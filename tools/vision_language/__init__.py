"""Vision-language: captioning, visual question answering and image-text scoring with Hugging Face models."""
