"""Reading data: the one home of every loader and of the rules they share.

- ``text``: one text decoder (BOM, UTF-8, then cp1252), raw ids as the exact strings of the
  file, one duplicate rule (newest timestamp wins, then file order).
- ``cache``: one parquet cache whose entries are verified (content fingerprint of the sources,
  checksum of the cached arrays) before use.
- loaders: ``csv`` (any delimited file, uploads), ``movielens``, ``netflix``, ``synth``
  (generated Netflix-format data), ``fetch`` (the ml-100k demo), ``datasets`` (spec strings).
"""
