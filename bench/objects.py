"""Which benchmark photographs show the same object: the ground truth a wrong match is judged by.

The benchmark's photographs are not all of different things. GroceryStoreDataset is a
classification set whose photos sit in one folder per product, and the benchmark holds two shots
of each (manifest.csv's `source_path` names the folder): two photos of one Alpro carton on two
shelves show the same printed packaging. A detector that finds one from the other has found
what this product is for (a second photo of an embargoed product, as at a press preview), not a
false leak; the report counts those matches on their own line and leaves those pairs out of the
negative pairs. Every other source's folders are dataset splits (val2017, CBSD68, kodak ...), so
their photos are each their own object.
"""

import csv
from pathlib import Path, PurePosixPath

# Sources whose folders (the last folder of `source_path`) are object classes, not splits.
CLASS_FOLDER_SOURCES = frozenset({"marcusklasson/GroceryStoreDataset"})


def objects(images: Path) -> dict[str, str]:
    """Photo key (as `split` names it, "owner+repo/stem.jpg") -> the object it shows; a photo
    missing from the manifest, or from a source without object folders, is its own object."""
    manifest = images / "manifest.csv"
    if not manifest.exists():
        return {}
    found = {}
    with manifest.open(newline="") as rows:
        for row in csv.DictReader(rows):
            if row["source_repo"] in CLASS_FOLDER_SOURCES:
                folder = PurePosixPath(row["source_path"]).parent.name
                found[row["file"]] = f"{row['source_repo']}/{folder}"
    return found


def siblings(
    keys: list[str], assets: list[str], object_of: dict[str, str]
) -> dict[str, frozenset[str]]:
    """Per photo, the *other* registered assets that show its object."""
    by_object: dict[str, set[str]] = {}
    for asset in assets:
        if asset in object_of:
            by_object.setdefault(object_of[asset], set()).add(asset)
    return {
        key: frozenset(by_object.get(object_of[key], set()) - {key})
        if key in object_of
        else frozenset()
        for key in keys
    }
