"""System catalogs as ordinary heap relations, and the relation cache built from them."""
