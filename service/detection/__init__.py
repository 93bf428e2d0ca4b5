"""How a found image becomes a match: decode, global hashes, local features, the indexes and
geometric verification, as pure functions over plain values (nothing else of the project)."""
