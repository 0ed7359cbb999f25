"""Coverage-guided fuzz targets for every parser of untrusted input (see fuzz/README.md).

Each target module exposes ``TestOneInput(data: bytes)``, ``MAX_LEN`` and
``DICTIONARY``; ``python -m fuzz TARGET`` runs one under atheris, and
``tests/test_fuzz_seeded.py`` feeds each a fixed, seeded sample without it.
"""

TARGETS = ("paths", "headers", "upstream", "jws", "verify", "config")
