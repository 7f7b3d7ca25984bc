"""The pure model: users, catalog and journeys.

No Ray, no Kafka, no I/O except reading the input files.
"""

from __future__ import annotations

from pathlib import Path

from raysim.model.catalog import Catalog, Product, load_catalog
from raysim.model.invariants import check_invariants
from raysim.model.journey import Event, Journey
from raysim.model.timefmt import format_time
from raysim.model.users import Users, load_users

__all__ = [
    "SAMPLE_PRODUCTS_PATH",
    "SAMPLE_USERS_PATH",
    "Catalog",
    "Event",
    "Journey",
    "Product",
    "Users",
    "check_invariants",
    "format_time",
    "load_catalog",
    "load_users",
]

_DATA_DIR = Path(__file__).resolve().parent.parent / "data"
SAMPLE_USERS_PATH = str(_DATA_DIR / "sample_users.json")
SAMPLE_PRODUCTS_PATH = str(_DATA_DIR / "sample_products.json")
