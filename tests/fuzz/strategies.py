"""Hostile values for the property-based tests: what a partner or a publisher could send."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Text as an attacker writes it: control characters, NUL, lone surrogates, long runs.
hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec=None, categories=["Cc", "Cs", "Zs"]), max_size=50),
    st.sampled_from([".", "..", "\x00", "\ud800", "a" * 300, " \t", "Bearer abcdefgh123"]),
)
hostile_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
json_scalars = st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(value, json_values)


uuids = st.uuids().map(str)
messages = st.fixed_dictionaries(
    {
        "messageId": _maybe(uuids),
        "flux": _maybe(st.just("CR_STOC")),
        "codeOC": _maybe(st.just("ABCD")),
    },
    optional={
        "referenceCommandeSousTraitantOI": _maybe(hostile_text),
        "referenceCommandePriseInterneOC": _maybe(hostile_text),
        "referencePrestationPrise": _maybe(hostile_text),
        "dateIntervention": _maybe(st.datetimes().map(lambda d: d.isoformat() + "Z")),
        "resultat": _maybe(st.sampled_from(["OK", "KO"])),
        "actions": _maybe(st.lists(st.sampled_from(["POSE_PTO", "CABLAGE_PM", "X"]))),
    },
)
records = st.fixed_dictionaries(
    {"id": _maybe(uuids), "type": _maybe(st.sampled_from(["PTO", "PM_AVANT", "SELFIE"]))},
    optional={
        "mimeType": _maybe(st.sampled_from(["image/jpeg", "image/png"])),
        "name": _maybe(hostile_text),
        "title": _maybe(hostile_text),
        "description": _maybe(hostile_text),
        "date": _maybe(st.datetimes().map(lambda d: d.isoformat() + "+02:00")),
        "width": _maybe(hostile_numbers),
        "height": _maybe(hostile_numbers),
        "size": _maybe(hostile_numbers),
        "geoPositionCoords": _maybe(
            st.fixed_dictionaries(
                {
                    "latitude": hostile_numbers,
                    "longitude": hostile_numbers,
                    "projection": hostile_text,
                }
            )
        ),
    },
)
