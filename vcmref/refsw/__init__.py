"""Reference software: normative decoder and processes; the encoder lives in refsw.encoder."""
