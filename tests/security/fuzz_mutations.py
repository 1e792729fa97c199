"""One mutation of a valid canonical invoice body (tests/security/fuzz_bodies.py) that breaks it:
a wrong type at any path, a decimal out of range, too fine or outside the grammar, an unknown
field, a huge string, a null where none is allowed, deep nesting, a member name twice in the raw
text, a lone surrogate, bytes that are not UTF-8. Each comes with the answer it must get."""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import strategies as st

from gateway.canonical.money import MINOR_UNITS
from gateway.jsonwire import MAX_DEPTH
from tests.security.fuzz_bodies import TEXT_CHARS, Mutant, Pairs, Raw, escape, to_json, view

# Path template (indices as *) → (kind, nullable). Decimal kinds carry their places and sign.
PATHS: dict[str, tuple[str, bool]] = {
    "/lines/*/quantity": ("decimal:6:non_negative", True),
    "/lines/*/unit_price": ("decimal:4:non_negative", True),
    "/lines/*/discount/value": ("decimal:4:non_negative", False),
    "/lines/*/taxes/*/rate": ("decimal:4:non_negative", False),
    "/discount/value": ("decimal:4:non_negative", False),
    "/shipping": ("decimal:4:non_negative", False),
    "/adjustment/amount": ("decimal:4:signed", False),
    "/payments/*/amount": ("decimal:4:positive", False),
    "/exchange_rate": ("decimal:10:positive", True),
    **dict.fromkeys(
        [
            "/number",
            "/reference",
            "/notes",
            "/terms",
            "/billing_address",
            "/shipping_address",
            "/customer/name",
            "/lines/*/name",
            "/lines/*/description",
            "/lines/*/unit",
            "/lines/*/taxes/*/name",
            "/adjustment/description",
            "/payments/*/method",
            "/payments/*/reference",
        ],
        ("text", True),
    ),
    "/tags/*": ("text", False),
    **dict.fromkeys(
        [
            "/customer/id",
            "/lines/*/id",
            "/lines/*/item_id",
            "/lines/*/taxes/*/id",
            "/payments/*/id",
        ],
        ("identifier", True),
    ),
    "/issue_date": ("date", True),
    "/due_date": ("date", True),
    "/payments/*/date": ("date", False),
    **dict.fromkeys(
        [
            "/currency",
            "/tax_mode",
            "/lines/*/kind",
            "/discount/type",
            "/lines/*/discount/type",
            "/policy/mode",
            "/policy/tax_scope",
        ],
        ("enum", False),
    ),
    "/lines/*/taxes/*/compound": ("bool", False),
    **dict.fromkeys(
        ["/customer", "/discount", "/adjustment", "/lines/*/discount", "/policy"], ("object", True)
    ),
    **dict.fromkeys(["/lines/*", "/lines/*/taxes/*", "/payments/*"], ("object", False)),
    **dict.fromkeys(["/lines", "/tags", "/payments", "/lines/*/taxes"], ("list", False)),
}
WRONG_TYPES: dict[str, list[Any]] = {
    "decimal": [[], {}, True, "twelve", Raw("[1]")],
    "text": [[], {}, True, False],
    "identifier": [[], {}, True],
    "date": [[], {}, 20260101, "2026-13-01", "2026-1-1", "2026-01-01T00:00:00Z", "01/02/2026"],
    "enum": [[], {}, 5, True, "nope", "usd", ""],
    "bool": [[], {}, "maybe", 2],
    "object": [[], "x", 5, True, Raw("1.5")],
    "list": [{}, "x", 5, True],
}
BAD_GRAMMAR = [
    "1e5", "+1", " 1", "1 ", "1_000", "١٢", "１", "1.", ".5", "NaN", "Infinity", "0x10", "1,5",
    "", "--1", "1.2.3", "5%", "- 1",
]  # fmt: skip
BAD_BYTES = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
HUGE = 10_001  # longer than any text field allows (ids 255, short texts 1,000, texts 10,000)
CURRENCY_FINE = "too_fine_for_currency"
CURRENCY_AMOUNTS = ("/shipping", "/adjustment/amount", "/payments/*/amount")
KINDS = [
    "wrong_type", "out_of_range", "too_fine", "bad_grammar", "extra_field", "huge_string",
    "null", "deep_nesting", "duplicate_key", "lone_surrogate", "invalid_utf8",
]  # fmt: skip


def template(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/*", path)


def paths(body: Any, at: str = "") -> list[str]:
    """Every path of ``body`` the table knows (provider_fields, free-form, left out)."""
    found = [at] if at and template(at) in PATHS else []
    if isinstance(body, dict):
        for key, value in body.items():
            if key != "provider_fields":
                found += paths(value, f"{at}/{escape(key)}")
    elif isinstance(body, list):
        for i, value in enumerate(body):
            found += paths(value, f"{at}/{i}")
    return found


def _tokens(path: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")] if path else []


def _get(body: Any, path: str) -> Any:
    for token in _tokens(path):
        body = body[int(token)] if isinstance(body, list) else body[token]
    return body


def _set(body: Any, path: str, value: Any) -> None:
    *parents, last = _tokens(path)
    target = _get(body, "/" + "/".join(escape(t) for t in parents) if parents else "")
    target[int(last) if isinstance(target, list) else last] = value


def _kind(path: str) -> tuple[str, bool]:
    return PATHS[template(path)]


@st.composite
def mutants(draw: st.DrawFn, body: dict[str, Any]) -> Mutant:
    """One mutation of ``body`` (not changed), as bytes, with the answer it must get."""
    tree = copy.deepcopy(body)
    known = paths(tree)
    kind = draw(st.sampled_from(KINDS))
    places = MINOR_UNITS[tree["currency"]]
    of = {p: _kind(p) for p in known}
    decimals = [p for p in known if of[p][0].startswith("decimal")]
    texts = [p for p in known if of[p][0] == "text" and isinstance(_get(tree, p), str)]
    objects = [""] + [p for p in known if isinstance(_get(tree, p), dict)]
    if kind in ("out_of_range", "too_fine", "bad_grammar") and decimals:
        path = draw(st.sampled_from(decimals))
        value = draw(_bad_decimal(kind, of[path][0], tree, path, places))
        _set(tree, path, value)
        if kind == "too_fine" and value == f"1.{'0' * places}1":
            kind = CURRENCY_FINE  # a rule of the engine, after what a provider can carry
        return _unparsed(tree, kind, path, 422)
    if kind == "wrong_type" and known:
        path = draw(st.sampled_from(known))
        _set(tree, path, draw(st.sampled_from(WRONG_TYPES[of[path][0].split(":")[0]])))
        return _unparsed(tree, kind, path, 422)
    if kind == "huge_string" and known:
        path = draw(
            st.sampled_from([p for p in known if of[p][0] not in ("object", "list")] or known)
        )
        _set(tree, path, draw(st.sampled_from("Aé😀1")) * HUGE)
        return _unparsed(tree, kind, path, 422)
    if kind == "null" and known:
        path = draw(st.sampled_from(known))
        _set(tree, path, None)
        return _unparsed(tree, kind, path, None if of[path][1] else 422)
    if kind == "deep_nesting":
        path = draw(st.sampled_from(known or ["/notes"]))
        depth = draw(st.integers(MAX_DEPTH + 1, MAX_DEPTH * 3))
        _set(tree, path, Raw("[" * depth + "]" * depth))
        return Mutant(to_json(tree).encode(), kind, path, 400)
    if kind == "duplicate_key" and any(_get(tree, p) for p in objects):
        path = draw(st.sampled_from([p for p in objects if _get(tree, p)]))
        members = list(_get(tree, path).items())
        name, value = members[draw(st.integers(0, len(members) - 1))]
        again = draw(st.sampled_from([value, None, "other"]))
        pairs = Pairs([*members, (name, again)])
        if path:
            _set(tree, path, pairs)
        return Mutant(to_json(tree if path else pairs).encode(), kind, path, 400)
    if kind == "lone_surrogate":
        in_a_field: bool = draw(st.booleans())
        if texts and in_a_field:
            path = draw(st.sampled_from(texts))
        else:  # free-form text: no field type stands in the way
            tree.setdefault("provider_fields", {})["memo"] = ""
            path = "/provider_fields/memo"
        lone = chr(draw(st.integers(0xD800, 0xDFFF)))
        _set(tree, path, draw(st.sampled_from(["", "a"])) + lone + _get(tree, path))
        return Mutant(to_json(tree).encode(), kind, path, 400, body=view(tree))
    if kind == "invalid_utf8" and texts:
        path = draw(st.sampled_from(texts))
        _set(tree, path, "\x00MARK\x00")
        payload = (
            to_json(tree)
            .encode()
            .replace(b"\\u0000MARK\\u0000", draw(st.sampled_from(BAD_BYTES)), 1)
        )
        return Mutant(payload, kind, path, 400)
    # extra_field, and the fallback when the body has no path of the kind drawn.
    path = draw(st.sampled_from(objects))
    name = "x_" + draw(st.text(TEXT_CHARS, max_size=12) | st.just("k" * 5_000) | st.just("a/b~c"))
    _get(tree, path)[name] = draw(st.sampled_from([1, "x", None, [], {}]))
    return _unparsed(tree, "extra_field", f"{path}/{escape(name)}", 422)


def _unparsed(tree: Any, kind: str, path: str, status: int | None) -> Mutant:
    return Mutant(to_json(tree).encode(), kind, path, status, body=view(tree))


@st.composite
def _bad_decimal(draw: st.DrawFn, kind: str, spec: str, tree: Any, path: str, money: int) -> Any:
    _, places_text, sign = spec.split(":")
    places = int(places_text)
    if kind == "bad_grammar":
        return draw(st.sampled_from(BAD_GRAMMAR))
    if kind == "too_fine":
        finer = [f"0.{'0' * places}1", Raw(f"1.{'0' * places}1"), "19." + "9949" + "9" * 27]
        if money < 4 and template(path) in CURRENCY_AMOUNTS:
            finer.append(f"1.{'0' * money}1")  # within the model's places, not the currency's
        return draw(st.sampled_from(finer))
    out = ["1" + "0" * 15, "-1" + "0" * 15, Raw("1e15"), Raw("1e400"), Raw("9" * 5_000)]
    if sign != "signed":
        out.append("-1")
    if sign == "positive":
        out.append("0")
    parent = _get(tree, path.rsplit("/", 1)[0])
    if path.endswith("/discount/value") and parent.get("type") == "percent":
        out.append("100.0001")
    return draw(st.sampled_from(out))
