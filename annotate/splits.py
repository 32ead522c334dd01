"""Which side of a project's train / held-out split a preference record falls on: a pure function of a stable key.

The key is the record's response (``response:<id>``) for an annotation's record, so the k annotations of one
answer, and every rebuild of their records, land on the same side; an imported row's content hash
(``import:<import_key>``), so importing the same file again, anywhere, puts each row where it was.
``record_split`` hashes the key into one of 100 buckets; the first ``percent`` buckets are held out.
"""
import hashlib

TRAIN = "train"
HELDOUT = "heldout"
BUCKETS = 100


def record_split_key(*, response_id=None, import_key: str = "") -> str:
    """The stable key of a record: its imported row's hash when it has one, else its response."""
    if import_key:
        return f"import:{import_key}"
    if response_id is None:
        raise ValueError("a record needs a response or an import key to be split")
    return f"response:{response_id}"


def record_split(key: str, percent: int) -> str:
    """``"heldout"`` for about ``percent`` in 100 keys (the same keys every time), ``"train"`` for the rest."""
    bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % BUCKETS
    return HELDOUT if bucket < percent else TRAIN
