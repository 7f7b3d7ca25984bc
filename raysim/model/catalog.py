"""The products on sale: loaded from a JSON file or generated from the seed."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any

from raysim.config import DEFAULT_PRODUCTS, CatalogConfig
from raysim.errors import InputError
from raysim.model.records import read_records

logger = logging.getLogger(__name__)

__all__ = ["Catalog", "Product", "load_catalog"]

PRICE_SIGMA = 0.55  # spread of log(price) around each category's median

# category -> (median price, brands, product nouns)
_CATEGORIES: dict[str, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    "beauty": (14.0, ("Lumen", "Petalia", "Glowry"), ("Serum", "Lip Tint", "Mascara")),
    "fragrances": (58.0, ("Maison Verre", "Oud & Co"), ("Eau de Parfum", "Body Mist")),
    "groceries": (6.0, ("Harvest Lane", "Daily Pantry"), ("Olive Oil", "Coffee Beans")),
    "home-decoration": (32.0, ("Nestwork", "Calm Corner"), ("Vase", "Wall Clock")),
    "kitchen-accessories": (22.0, ("Forge & Fig", "Cookwell"), ("Skillet", "Knife")),
    "laptops": (980.0, ("Nimbus", "Corelight"), ("Ultrabook 14", "Laptop Pro 16")),
    "smartphones": (540.0, ("Pixelon", "Orbitel"), ("Phone X", "Phone Lite")),
    "mens-shirts": (34.0, ("Tailor Row", "Northbound"), ("Oxford Shirt", "Polo")),
    "womens-shoes": (78.0, ("Strada", "Fernway"), ("Sneakers", "Ankle Boots")),
    "sports-accessories": (
        27.0,
        ("Trailmark", "Kinetik"),
        ("Yoga Mat", "Water Bottle"),
    ),
}
_ADJECTIVES = ("Classic", "Everyday", "Premium", "Compact", "Eco", "Signature", "Pro")


@dataclass(frozen=True)
class Product:
    product_id: str
    title: str
    category: str
    brand: str
    price: float


@dataclass(frozen=True)
class Catalog:
    products: tuple[Product, ...]
    source: str


def load_catalog(config: CatalogConfig, seed: int) -> Catalog:
    """Load config.path, or generate config.generate (default 200) products."""
    if config.path is not None:
        return _load_file(config.path, config.max_bytes)
    count = DEFAULT_PRODUCTS if config.generate is None else config.generate
    return _generate(count, seed)


def _load_file(path: str, max_bytes: int | None = None) -> Catalog:
    entries = read_records(path, "products", max_bytes)
    if not entries:
        raise InputError(
            f"products file {path} contains no products; expected at least one."
        )
    seen: dict[str, str] = {}
    products = []
    for location, raw in entries:
        where = f"products file {path} {location}"
        if not isinstance(raw, dict):
            raise InputError(f"{where} is not an object, got {raw!r:.60}.")
        value = raw.get("id")
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            raise InputError(
                f"{where} field 'id' must be a non-empty string or number, got "
                f"{value!r:.60}."
            )
        product_id = str(value)
        if product_id in seen:
            raise InputError(
                f"{where} repeats id {product_id!r}, first seen at {seen[product_id]}; "
                "ids must be unique."
            )
        seen[product_id] = location
        products.append(
            Product(
                product_id=product_id,
                title=_required_text(raw, "title", where),
                category=_required_text(raw, "category", where),
                brand=_optional_text(raw.get("brand")),
                price=_price(raw, where),
            )
        )
    return Catalog(products=tuple(products), source=path)


def _required_text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{where} field {key!r} must be a non-empty string, got {value!r:.60}."
        )
    return value


def _optional_text(value: Any) -> str:
    return "" if value is None else str(value)


def _price(raw: dict[str, Any], where: str) -> float:
    if "price" not in raw:
        raise InputError(f"{where} has no 'price' field; every product needs a price.")
    value = raw["price"]
    price: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        price = float(value)
    elif isinstance(value, str):
        try:
            price = float(value)
        except ValueError:
            price = None
    if price is None or not math.isfinite(price):
        raise InputError(f"{where} field 'price' must be a number, got {value!r:.60}.")
    if price <= 0:
        raise InputError(f"{where} field 'price' must be > 0, got {value!r:.60}.")
    return price


def _generate(count: int, seed: int) -> Catalog:
    if count < 1:
        raise InputError(f"catalog.generate must be >= 1, got {count}.")
    rng = random.Random(f"catalog:{seed}")
    categories = list(_CATEGORIES)
    width = max(5, len(str(count)))
    products = []
    for number in range(1, count + 1):
        category = categories[(number - 1) % len(categories)]
        median, brands, nouns = _CATEGORIES[category]
        brand = rng.choice(brands)
        price = math.exp(rng.gauss(math.log(median), PRICE_SIGMA))
        cents = max(99, int(price) * 100 + 99 if price >= 10 else round(price * 100))
        products.append(
            Product(
                product_id=f"p{number:0{width}d}",
                title=f"{brand} {rng.choice(_ADJECTIVES)} {rng.choice(nouns)}",
                category=category,
                brand=brand,
                price=cents / 100,
            )
        )
    return Catalog(products=tuple(products), source=f"generated:{count}")
