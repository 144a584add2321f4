"""Speech recognition: transcripts with language and word timestamps (Whisper family)."""
