"""One shopper's session as timed events. Pure: no I/O, no clock, no global state.

Every draw comes from a generator seeded with a hash of
"{seed}:{user_id}:{session_number}", so the same inputs give the same events, ids
included. This is the hot path of a run.
"""

from __future__ import annotations

import hashlib
import logging
import random
from bisect import bisect
from itertools import accumulate
from typing import Any

from raysim.config import TOPIC_KEYS, Range, StoreConfig
from raysim.model.catalog import Catalog
from raysim.model.timefmt import format_time

logger = logging.getLogger(__name__)

__all__ = ["SCHEMA_VERSION", "Event", "Journey", "new_id"]

Event = tuple[float, str, dict]

USERS, MARKETINGS, SESSIONS, ORDERS, BEHAVIOURS = TOPIC_KEYS
SCHEMA_VERSION = 1
ORDER_STATUS = "placed"
RESERVED_USER_KEYS = ("event_id", "event_time", "schema_version")

POPULARITY_EXPONENT = 0.9  # Zipf-like: the product at rank r weighs 1 / r**0.9
BOUNCE_RATE = 0.40  # sessions that see only their landing page (unless they buy)
MORE_BROWSING_RATE = 0.72  # chance of one more browse step after each step
MAX_BROWSE_STEPS = 15
FOCUS_CATEGORY_RATE = 0.70  # browse steps that stay in the session's category
CART_SAME_CATEGORY_RATE = 0.75  # extra cart items from the first item's category
CART_SIZE_SHARES = (0.60, 0.88)  # cumulative: 1 item, 2 items, else 3
QUANTITY_SHARES = (0.75, 0.93)  # cumulative: quantity 1, 2, else 3
REMOVE_FROM_CART_RATE = 0.10
VIEW_CART_RATE = 0.50  # carts that look at /cart without checking out
# Where an abandoned checkout stops: after begin_checkout, after shipping, else payment.
CHECKOUT_EXIT_SHARES = (0.40, 0.75)
AFTER_PURCHASE_VIEW_RATE = 0.20
STEP_SHARES = (0.55, 0.80, 0.90)  # cumulative: product, category, search, else home
# Events that come with the page_view before them get a tiny share of the time.
_COMPANIONS = frozenset({"view_item", "view_item_list", "search"})
COMPANION_GAP = 0.01

# channel -> (home share, category share) of landing pages; the rest land on a product
_LANDING_SHARES: dict[str, tuple[float, float]] = {
    "direct": (0.70, 0.15),
    "organic_search": (0.25, 0.30),
    "paid_search": (0.0, 0.40),
    "social": (0.20, 0.20),
    "email": (0.20, 0.40),
    "referral": (0.30, 0.20),
    "display": (0.0, 0.30),
}
_OTHER_LANDING_SHARES = (0.50, 0.20)

# channel -> (sources, source weights, medium, campaign names or ()); "{category}" in a
# campaign name becomes the session's category
_ATTRIBUTION: dict[
    str, tuple[tuple[str, ...], tuple[float, ...], str, tuple[str, ...]]
] = {
    "direct": (("(direct)",), (1.0,), "(none)", ()),
    "organic_search": (
        ("google", "bing", "duckduckgo", "yahoo"),
        (0.86, 0.08, 0.04, 0.02),
        "organic",
        (),
    ),
    "paid_search": (
        ("google", "bing"),
        (0.85, 0.15),
        "cpc",
        ("brand_search", "generic_{category}", "shopping_{category}"),
    ),
    "social": (
        ("facebook", "instagram", "tiktok", "pinterest"),
        (0.35, 0.35, 0.18, 0.12),
        "social",
        (),
    ),
    "email": (
        ("newsletter",),
        (1.0,),
        "email",
        ("weekly_newsletter", "welcome_series", "cart_reminder", "seasonal_sale"),
    ),
    "referral": (
        ("blog.example.com", "deals.example.org", "forum.example.net"),
        (0.5, 0.3, 0.2),
        "referral",
        (),
    ),
    "display": (
        ("google", "partner_network"),
        (0.7, 0.3),
        "display",
        ("retargeting", "prospecting_{category}"),
    ),
}

# The variant nibble of a version-4 UUID is one of 8, 9, a, b: map any hex digit there.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id(rng: random.Random) -> str:
    """Return a random version-4-shaped UUID string drawn from rng (never uuid4)."""
    text = rng.randbytes(16).hex()
    return (
        f"{text[:8]}-{text[8:12]}-4{text[13:16]}-"
        f"{_VARIANT[text[16]]}{text[17:20]}-{text[20:]}"
    )


def _seed_of(text: str) -> int:
    """A 128-bit seed from `text`: the same everywhere, cheaper to seed than a str."""
    return int.from_bytes(
        hashlib.blake2b(text.encode(), digest_size=16).digest(), "big"
    )


def _hashed_id(text: str) -> str:
    """A version-4-shaped UUID string derived from `text` alone."""
    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
    return (
        f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-"
        f"{_VARIANT[digest[16]]}{digest[17:20]}-{digest[20:]}"
    )


def _slug(text: str) -> str:
    return "-".join(text.lower().replace("/", " ").split()) or "all"


def _search_terms(titles: list[str]) -> list[str]:
    terms = {word.lower() for title in titles for word in title.split()}
    return sorted(term for term in terms if len(term) >= 4 and term.isalpha()) or [
        "sale"
    ]


class _Item:
    """A product as the journey uses it, with its strings precomputed."""

    __slots__ = ("category", "cents", "index", "item_id", "page", "price", "title")

    def __init__(self, index: int, item_id: str, title: str, category: str, cents: int):
        self.index = index
        self.item_id = item_id
        self.title = title
        self.category = category
        self.cents = cents
        self.price = cents / 100
        self.page = f"/products/{item_id}"


class _Category:
    __slots__ = ("cum_weights", "items", "name", "page", "slug", "terms", "total")

    def __init__(self, name: str, items: list[_Item], weights: list[float]) -> None:
        self.name = name
        self.slug = _slug(name)
        self.page = f"/category/{self.slug}"
        self.items = items
        self.cum_weights = list(accumulate(weights))
        self.total = self.cum_weights[-1]
        self.terms = _search_terms([item.title for item in items])


class Journey:
    """Builds the events of one session of one user, deterministically."""

    def __init__(
        self,
        store: StoreConfig,
        catalog: Catalog,
        session_duration_s: Range,
        seed: int,
    ) -> None:
        if not catalog.products:
            raise ValueError("Journey needs a catalog with at least one product.")
        if (
            session_duration_s.min < 0
            or session_duration_s.max < session_duration_s.min
        ):
            raise ValueError(
                "session_duration_s must satisfy 0 <= min <= max, got "
                f"{session_duration_s.min}..{session_duration_s.max}."
            )
        self._seed = seed
        # One generator, reseeded per session: the same draws as a new Random each
        # time, without building one (session() and user_record() never nest).
        self._rng = random.Random()
        self._store = store
        self._currency = store.currency
        self._tax_rate = store.tax_rate
        self._shipping_cents = round(store.shipping_fee * 100)
        self._free_shipping_cents = round(store.free_shipping_over * 100)
        self._duration_min = float(session_duration_s.min)
        self._duration_span = float(session_duration_s.max - session_duration_s.min)

        self._channels = list(store.channels)
        self._channel_cum = list(accumulate(store.channels.values()))
        self._devices = list(store.devices)
        self._device_cum = list(accumulate(store.devices.values()))

        pop_rng = random.Random(f"{seed}:popularity")
        ranks = list(range(len(catalog.products)))
        pop_rng.shuffle(ranks)
        weights = [1.0 / (rank + 1) ** POPULARITY_EXPONENT for rank in ranks]
        self._items = [
            _Item(index, p.product_id, p.title, p.category, round(p.price * 100))
            for index, p in enumerate(catalog.products)
        ]
        self._item_cum = list(accumulate(weights))
        self._item_total = self._item_cum[-1]

        grouped: dict[str, tuple[list[_Item], list[float]]] = {}
        for item, weight in zip(self._items, weights, strict=True):
            members, member_weights = grouped.setdefault(item.category, ([], []))
            members.append(item)
            member_weights.append(weight)
        self._categories = [
            _Category(name, members, member_weights)
            for name, (members, member_weights) in grouped.items()
        ]
        self._category_of = {category.name: category for category in self._categories}
        self._category_cum = list(
            accumulate(category.total for category in self._categories)
        )

    def user_record(self, user: dict, time_s: float) -> Event:
        """The users-topic event for user, stamped time_s (its first session start)."""
        user_id = user["user_id"]
        record: dict[str, Any] = {
            # A hash, not a reseeded generator: reseeding costs more than the record.
            "event_id": _hashed_id(f"{self._seed}:{user_id}:user"),
            "event_time": format_time(time_s),
            "schema_version": SCHEMA_VERSION,
        }
        for key, value in user.items():
            if key not in RESERVED_USER_KEYS:
                record[key] = value
        return (time_s, USERS, record)

    def session(self, user: dict, session_number: int, start_s: float) -> list[Event]:
        """The events of one session in emission order, all in [start, end]."""
        user_id = user["user_id"]
        rng = self._rng
        rng.seed(_seed_of(f"{self._seed}:{user_id}:{session_number}"))
        rand = rng.random
        make_id = new_id
        stamp = format_time
        duration_s = self._duration_min + self._duration_span * rand()
        end_s = start_s + duration_s
        channel = self._channels[
            bisect(self._channel_cum, rand() * self._channel_cum[-1])
        ]
        device = self._devices[bisect(self._device_cum, rand() * self._device_cum[-1])]
        focus = self._categories[
            bisect(self._category_cum, rand() * self._category_cum[-1])
        ]
        session_id = new_id(rng)

        steps: list[tuple[str, str, dict[str, Any] | None]] = []
        landing_page, viewed = self._landing(channel, focus, rng, steps)
        if rand() >= BOUNCE_RATE:
            for _ in range(MAX_BROWSE_STEPS):
                viewed = self._browse(focus, rng, steps) or viewed
                if rand() >= MORE_BROWSING_RATE:
                    break
        order = None
        if rand() < self._store.add_to_cart_rate:
            order = self._cart(focus, viewed, rng, steps)

        marketing = {
            "event_id": make_id(rng),
            "event_time": stamp(start_s),
            "schema_version": SCHEMA_VERSION,
            "user_id": user_id,
            "session_id": session_id,
            "touchpoint_id": make_id(rng),
            "channel": channel,
            **self._attribution(channel, focus, rng),
            "landing_page": landing_page,
        }
        events: list[Event] = [(start_s, MARKETINGS, marketing)]

        count = len(steps)
        gaps = [0.0]
        gaps.extend(
            COMPANION_GAP * rand() if name in _COMPANIONS else 0.2 + rand()
            for name, _, _ in steps[1:]
        )
        gaps.append(0.2 + rand())
        cumulative = list(accumulate(gaps))
        scale = duration_s / cumulative[-1]
        page_views = 0
        order_id = None
        append = events.append
        for number, (name, page, extra) in enumerate(steps, start=1):
            time_s = start_s + cumulative[number - 1] * scale
            event_time = stamp(time_s)
            record = {
                "event_id": make_id(rng),
                "event_time": event_time,
                "schema_version": SCHEMA_VERSION,
                "user_id": user_id,
                "session_id": session_id,
                "event_name": name,
                "sequence_number": number,
                "page": page,
            }
            if extra is not None:
                record.update(extra)
            append((time_s, BEHAVIOURS, record))
            if name == "page_view":
                page_views += 1
            elif name == "purchase" and order is not None:
                order_id = record["order_id"]
                order["event_id"] = make_id(rng)
                order["event_time"] = event_time
                order["user_id"] = user_id
                order["session_id"] = session_id
                order["order_id"] = order_id
                append((time_s, ORDERS, order))

        end_time = stamp(end_s)
        summary = {
            "event_id": make_id(rng),
            "event_time": end_time,
            "schema_version": SCHEMA_VERSION,
            "user_id": user_id,
            "session_id": session_id,
            "session_number": session_number,
            "started_at": marketing["event_time"],
            "ended_at": end_time,
            "duration_s": round(duration_s, 3),
            "device": device,
            "channel": channel,
            "landing_page": landing_page,
            "page_views": page_views,
            "events": count,
            "converted": order_id is not None,
            "order_id": order_id,
        }
        events.append((end_s, SESSIONS, summary))
        return events

    def _pick_item(self, rng: random.Random, category: _Category | None) -> _Item:
        if category is None:
            index = bisect(self._item_cum, rng.random() * self._item_total)
            return self._items[min(index, len(self._items) - 1)]
        index = bisect(category.cum_weights, rng.random() * category.total)
        return category.items[min(index, len(category.items) - 1)]

    def _view_item(
        self, item: _Item, steps: list[tuple[str, str, dict[str, Any] | None]]
    ) -> None:
        steps.append(("page_view", item.page, None))
        steps.append(
            (
                "view_item",
                item.page,
                {
                    "item_id": item.item_id,
                    "item_category": item.category,
                    "price": item.price,
                },
            )
        )

    def _view_category(
        self, category: _Category, steps: list[tuple[str, str, dict[str, Any] | None]]
    ) -> None:
        steps.append(("page_view", category.page, None))
        steps.append(
            ("view_item_list", category.page, {"item_category": category.name})
        )

    def _landing(
        self,
        channel: str,
        focus: _Category,
        rng: random.Random,
        steps: list[tuple[str, str, dict[str, Any] | None]],
    ) -> tuple[str, _Item | None]:
        home_share, category_share = _LANDING_SHARES.get(channel, _OTHER_LANDING_SHARES)
        draw = rng.random()
        if draw < home_share:
            steps.append(("page_view", "/", None))
            return "/", None
        if draw < home_share + category_share:
            self._view_category(focus, steps)
            return focus.page, None
        item = self._pick_item(rng, focus)
        self._view_item(item, steps)
        return item.page, item

    def _browse(
        self,
        focus: _Category,
        rng: random.Random,
        steps: list[tuple[str, str, dict[str, Any] | None]],
    ) -> _Item | None:
        """Add one browse step; return the product viewed, if any."""
        draw = rng.random()
        if draw < STEP_SHARES[0]:
            in_focus = rng.random() < FOCUS_CATEGORY_RATE
            item = self._pick_item(rng, focus if in_focus else None)
            self._view_item(item, steps)
            return item
        if draw < STEP_SHARES[1]:
            self._view_category(focus, steps)
        elif draw < STEP_SHARES[2]:
            term = focus.terms[int(rng.random() * len(focus.terms))]
            page = f"/search?q={term}"
            steps.append(("page_view", page, None))
            steps.append(("search", page, {"search_term": term}))
        else:
            steps.append(("page_view", "/", None))
        return None

    def _quantity(self, rng: random.Random) -> int:
        draw = rng.random()
        return 1 if draw < QUANTITY_SHARES[0] else 2 if draw < QUANTITY_SHARES[1] else 3

    def _add_to_cart(
        self,
        item: _Item,
        quantity: int,
        name: str,
        steps: list[tuple[str, str, dict[str, Any] | None]],
    ) -> None:
        steps.append(
            (
                name,
                item.page if name == "add_to_cart" else "/cart",
                {
                    "item_id": item.item_id,
                    "item_category": item.category,
                    "price": item.price,
                    "quantity": quantity,
                    "value": item.cents * quantity / 100,
                    "currency": self._currency,
                },
            )
        )

    def _cart(
        self,
        focus: _Category,
        viewed: _Item | None,
        rng: random.Random,
        steps: list[tuple[str, str, dict[str, Any] | None]],
    ) -> dict[str, Any] | None:
        """Add the cart and checkout steps; return the order record if bought."""
        rand = rng.random
        if viewed is None:
            viewed = self._pick_item(rng, focus)
            self._view_item(viewed, steps)
        cart: list[tuple[_Item, int]] = [(viewed, self._quantity(rng))]
        self._add_to_cart(viewed, cart[0][1], "add_to_cart", steps)
        draw = rand()
        size = (
            1 if draw < CART_SIZE_SHARES[0] else 2 if draw < CART_SIZE_SHARES[1] else 3
        )
        home = self._category_of[viewed.category]
        for _ in range(size - 1):
            in_home = rand() < CART_SAME_CATEGORY_RATE
            for _attempt in range(4):
                item = self._pick_item(rng, home if in_home else None)
                if all(item is not chosen for chosen, _ in cart):
                    break
            else:
                continue
            quantity = self._quantity(rng)
            self._view_item(item, steps)
            self._add_to_cart(item, quantity, "add_to_cart", steps)
            cart.append((item, quantity))

        checkout = rand() < self._store.checkout_rate
        if checkout or rand() < VIEW_CART_RATE:
            self._cart_step("view_cart", "/cart", cart, steps)
            if len(cart) > 1 and rand() < REMOVE_FROM_CART_RATE:
                item, quantity = cart.pop()
                self._add_to_cart(item, quantity, "remove_from_cart", steps)
        if not checkout:
            return None
        self._cart_step("begin_checkout", "/checkout", cart, steps)
        bought = rand() < self._store.purchase_rate
        exit_draw = 1.0 if bought else rand()
        if exit_draw >= CHECKOUT_EXIT_SHARES[0]:
            self._cart_step("add_shipping_info", "/checkout/shipping", cart, steps)
        if exit_draw >= CHECKOUT_EXIT_SHARES[1]:
            self._cart_step("add_payment_info", "/checkout/payment", cart, steps)
        if not bought:
            return None
        order = self._order(cart)
        steps.append(
            (
                "purchase",
                "/checkout/confirmation",
                {
                    "order_id": new_id(rng),
                    "value": order["total"],
                    "currency": self._currency,
                },
            )
        )
        if rand() < AFTER_PURCHASE_VIEW_RATE:
            steps.append(("page_view", "/", None))
        return order

    def _cart_step(
        self,
        name: str,
        page: str,
        cart: list[tuple[_Item, int]],
        steps: list[tuple[str, str, dict[str, Any] | None]],
    ) -> None:
        subtotal = sum(item.cents * quantity for item, quantity in cart)
        extra = {"value": subtotal / 100, "currency": self._currency}
        steps.append((name, page, extra))

    def _order(self, cart: list[tuple[_Item, int]]) -> dict[str, Any]:
        """The order record for cart, all money in integer cents until emitted."""
        items = []
        subtotal = 0
        for item, quantity in cart:
            line = item.cents * quantity
            subtotal += line
            items.append(
                {
                    "item_id": item.item_id,
                    "title": item.title,
                    "category": item.category,
                    "price": item.price,
                    "quantity": quantity,
                    "line_total": line / 100,
                }
            )
        shipping = 0 if subtotal >= self._free_shipping_cents else self._shipping_cents
        tax = int(subtotal * self._tax_rate + 0.5)
        total = subtotal + shipping + tax
        # event_id, event_time, user_id, session_id and order_id are set by session().
        return {
            "event_id": "",
            "event_time": "",
            "schema_version": SCHEMA_VERSION,
            "user_id": "",
            "session_id": "",
            "order_id": "",
            "items": items,
            "subtotal": subtotal / 100,
            "shipping": shipping / 100,
            "tax": tax / 100,
            "total": total / 100,
            "currency": self._currency,
            "status": ORDER_STATUS,
        }

    def _attribution(
        self, channel: str, focus: _Category, rng: random.Random
    ) -> dict[str, Any]:
        spec = _ATTRIBUTION.get(channel)
        if spec is None:
            return {"source": channel, "medium": channel, "campaign": None}
        sources, weights, medium, campaigns = spec
        source = sources[0] if len(sources) == 1 else rng.choices(sources, weights)[0]
        campaign = None
        if campaigns:
            name = campaigns[int(rng.random() * len(campaigns))]
            campaign = name.replace("{category}", focus.slug.replace("-", "_"))
        return {"source": source, "medium": medium, "campaign": campaign}
