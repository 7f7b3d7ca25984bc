"""Tests for raysim.model.catalog: loading, generating and rejecting products."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from raysim.config import CatalogConfig
from raysim.errors import InputError
from raysim.model import SAMPLE_PRODUCTS_PATH
from raysim.model.catalog import Product, load_catalog


def write(tmp_path: Path, name: str, data: object) -> str:
    path = tmp_path / name
    path.write_text(
        data if isinstance(data, str) else json.dumps(data), encoding="utf-8"
    )
    return str(path)


def test_load_catalog_reads_the_sample() -> None:
    catalog = load_catalog(CatalogConfig(path=SAMPLE_PRODUCTS_PATH), seed=0)
    assert len(catalog.products) == 40
    assert len({p.category for p in catalog.products}) == 8
    assert catalog.products[0].product_id == "1"
    assert all(p.price > 0 and p.title for p in catalog.products)
    assert any(p.brand == "" for p in catalog.products)
    assert catalog.source == SAMPLE_PRODUCTS_PATH


def test_load_catalog_keeps_the_fields_it_needs(tmp_path: Path) -> None:
    rows = [
        {"id": 10, "title": "Mug", "category": "kitchen", "brand": "Acme", "price": 7},
        {"id": "x", "title": "Pen", "category": "office", "brand": None, "price": 1.5},
    ]
    catalog = load_catalog(CatalogConfig(path=write(tmp_path, "p.json", rows)), 0)
    assert catalog.products == (
        Product("10", "Mug", "kitchen", "Acme", 7.0),
        Product("x", "Pen", "office", "", 1.5),
    )


def test_load_catalog_reads_a_list_inside_a_list(tmp_path: Path) -> None:
    rows = [[{"id": 1, "title": "Mug", "category": "kitchen", "price": 3}]]
    catalog = load_catalog(CatalogConfig(path=write(tmp_path, "p.json", rows)), 0)
    assert [p.product_id for p in catalog.products] == ["1"]


def test_generate_catalog_is_deterministic_with_spread_prices() -> None:
    first = load_catalog(CatalogConfig(generate=300), seed=1)
    again = load_catalog(CatalogConfig(generate=300), seed=1)
    other = load_catalog(CatalogConfig(generate=300), seed=2)
    assert first == again
    assert first.products != other.products
    assert first.source == "generated:300"
    products = first.products
    assert len({p.product_id for p in products}) == 300
    assert len({p.category for p in products}) == 10
    prices = [p.price for p in products]
    assert min(prices) > 0
    assert all(round(price, 2) == price for price in prices)
    assert min(prices) < statistics.median(prices) / 3
    assert max(prices) > statistics.median(prices) * 10


def test_load_catalog_generates_200_products_by_default() -> None:
    assert len(load_catalog(CatalogConfig(), seed=0).products) == 200


def good(**changes: object) -> dict:
    row: dict = {"id": 1, "title": "Mug", "category": "kitchen", "price": 3.5}
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


@pytest.mark.parametrize(
    ("rows", "pattern"),
    [
        ([], r"contains no products"),
        ([good(), "mug"], r"\(record \[1\]\) is not an object"),
        ([good(id=...)], r"\(record \[0\]\) field 'id' must be a non-empty"),
        ([good(), good()], r"\(record \[1\]\) repeats id '1', first seen at .*\[0\]"),
        ([good(price=...)], r"\(record \[0\]\) has no 'price' field"),
        ([good(price="cheap")], r"\[0\]\) field 'price' must be a number, got 'cheap'"),
        ([good(price=True)], r"\(record \[0\]\) field 'price' must be a number"),
        ([good(price=0)], r"\(record \[0\]\) field 'price' must be > 0, got 0"),
        ([good(price=-2.5)], r"\(record \[0\]\) field 'price' must be > 0, got -2\.5"),
        ([good(title="")], r"\[0\]\) field 'title' must be a non-empty string"),
        ([good(category=None)], r"\(record \[0\]\) field 'category' must be"),
    ],
)  # fmt: skip
def test_load_catalog_rejects_bad_products(
    tmp_path: Path, rows: list, pattern: str
) -> None:
    with pytest.raises(InputError, match=pattern) as caught:
        load_catalog(CatalogConfig(path=write(tmp_path, "p.json", rows)), 0)
    assert f"products file {tmp_path / 'p.json'} " in str(caught.value)


def test_load_catalog_rejects_a_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"products file .*gone\.json does not exist"):
        load_catalog(CatalogConfig(path=str(tmp_path / "gone.json")), 0)
    with pytest.raises(InputError, match=r"bad\.json is not valid JSON"):
        load_catalog(CatalogConfig(path=write(tmp_path, "bad.json", "{]")), 0)
    with pytest.raises(InputError, match=r"empty\.json is empty"):
        load_catalog(CatalogConfig(path=write(tmp_path, "empty.json", "")), 0)
