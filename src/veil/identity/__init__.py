"""Project secret and the keyed functions derived from it (pseudonyms, UIDs, date offsets)."""
