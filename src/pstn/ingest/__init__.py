"""Reading what lands: the landing folder, file decoding, the input formats, typing, Great
Expectations, the Parquet archive and the loader that ties them together."""
