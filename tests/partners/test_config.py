"""The partners file: durations, defaults, credentials, and errors that name the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from worker.partners.config import Partner, load_partners
from worker.settings import ConfigError, parse_duration

BASE = 'base_url = "https://photos.oc.example/cri/v1"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_one(tmp_path: Path, body: str, environ: dict[str, str] | None = None) -> Partner:
    partners = load_partners(write(tmp_path, f"[oc.ABCD]\n{BASE}{body}"), environ or {})
    assert list(partners) == ["ABCD"]
    return partners["ABCD"]


def refused(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_partners(write(tmp_path, text), environ or {})
    return str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        (" 2h30m ", timedelta(hours=2, minutes=30)),
        (3600, timedelta(hours=1)),
        (1.5, timedelta(seconds=1.5)),
        (timedelta(days=2), timedelta(days=2)),
    ],
)
def test_parse_duration(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "7", "d", "7x", "1h1d", "7 days", "-1d", True, None, []])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)


def test_defaults(tmp_path: Path) -> None:
    partner = load_one(tmp_path, "")
    config = partner.config
    assert partner.code == "ABCD"
    assert config.query == "intervention"
    assert config.max_wait == timedelta(days=7)
    assert config.concurrency == 4
    assert (partner.token, partner.client_secret, config.oauth2) == (None, None, None)
    assert config.paths.intervention == "/intervention/{id}/photos"
    assert config.paths.order == "/order/{id}/photos"
    assert config.paths.access == "/access/{id}/photos"
    assert config.paths.photo == "/photo/{id}"


def test_several_partners_and_settings(tmp_path: Path) -> None:
    text = (
        f'[oc.ABCD]\n{BASE}query = "order"\nmax_wait = "1d12h"\nconcurrency = 8\n'
        f'[oc.WX12]\nbase_url = "http://127.0.0.1:8080"\nquery = "access"\nmax_wait = 60\n'
    )
    partners = load_partners(write(tmp_path, text), {})
    assert sorted(partners) == ["ABCD", "WX12"]
    assert partners["ABCD"].config.query == "order"
    assert partners["ABCD"].config.max_wait == timedelta(days=1, hours=12)
    assert partners["ABCD"].config.concurrency == 8
    assert partners["WX12"].config.query == "access"
    assert partners["WX12"].config.max_wait == timedelta(minutes=1)


def test_static_token(tmp_path: Path) -> None:
    partner = load_one(tmp_path, 'token = "s3cr3t"\n')
    assert partner.token is not None
    assert partner.token.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(partner)


def test_token_env_is_read_from_the_given_environ(tmp_path: Path) -> None:
    partner = load_one(tmp_path, 'token_env = "OC_TOKEN"\n', {"OC_TOKEN": "from-env"})
    assert partner.token is not None
    assert partner.token.get_secret_value() == "from-env"


@pytest.mark.parametrize("environ", [{}, {"OC_TOKEN": ""}, {"OTHER": "x"}])
def test_token_env_missing(tmp_path: Path, environ: dict[str, str]) -> None:
    message = refused(tmp_path, f'[oc.ABCD]\n{BASE}token_env = "OC_TOKEN"\n', environ)
    assert "oc.ABCD.token_env" in message
    assert "OC_TOKEN" in message


OAUTH = """
[oc.ABCD.oauth2]
token_url = "https://auth.oc.example/token"
client_id = "worker"
client_secret_env = "OC_SECRET"
"""


def test_oauth2(tmp_path: Path) -> None:
    partner = load_one(tmp_path, OAUTH + 'scope = "photos:read"\n', {"OC_SECRET": "shh"})
    oauth2 = partner.config.oauth2
    assert oauth2 is not None
    assert str(oauth2.token_url) == "https://auth.oc.example/token"
    assert oauth2.client_id == "worker"
    assert oauth2.scope == "photos:read"
    assert oauth2.auth_method == "client_secret_basic"
    assert partner.client_secret is not None
    assert partner.client_secret.get_secret_value() == "shh"
    assert partner.token is None


def test_oauth2_secret_missing(tmp_path: Path) -> None:
    message = refused(tmp_path, f"[oc.ABCD]\n{BASE}{OAUTH}")
    assert "oc.ABCD.oauth2.client_secret_env" in message
    assert "OC_SECRET" in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (f"[oc.ABCD]\n{BASE}bogus = 1\n", "oc.ABCD.bogus"),
        (f"[oc.ABCD]\n{BASE}{OAUTH}colour = 'red'\n", "oc.ABCD.oauth2.colour"),
        (f"[oc.abcd]\n{BASE}", "oc.abcd"),
        (f"[oc.ABCDE]\n{BASE}", "oc.ABCDE"),
        (f'[oc.ABCD]\n{BASE}query = "photo"\n', "oc.ABCD.query"),
        (f'[oc.ABCD]\n{BASE}max_wait = "soon"\n', "oc.ABCD.max_wait"),
        (f"[oc.ABCD]\n{BASE}concurrency = 0\n", "oc.ABCD.concurrency"),
        ('[oc.ABCD]\nbase_url = "not a url"\n', "oc.ABCD.base_url"),
        ("[oc.ABCD]\nquery = 'order'\n", "oc.ABCD.base_url"),
        (f'[oc.ABCD]\n{BASE}[oc.ABCD.paths]\nphoto = "/photo"\n', "oc.ABCD.paths.photo"),
        (f'[oc.ABCD]\n{BASE}[oc.ABCD.paths]\norder = "o/{{id}}"\n', "oc.ABCD.paths.order"),
        ("[other]\nx = 1\n", "oc"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    assert key in refused(tmp_path, text)


@pytest.mark.parametrize(
    "credentials",
    [
        'token = "t"\ntoken_env = "T"\n',
        f'token = "t"\n{OAUTH}',
        f'token_env = "T"\n{OAUTH}',
    ],
)
def test_two_credentials_at_once(tmp_path: Path, credentials: str) -> None:
    environ = {"T": "x", "OC_SECRET": "y"}
    message = refused(tmp_path, f"[oc.ABCD]\n{BASE}{credentials}", environ)
    assert "oc.ABCD" in message
    assert "at most one of token, token_env, oauth2" in message


def test_ca_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    message = refused(tmp_path, f"[oc.ABCD]\n{BASE}ca_file = '{missing}'\n")
    assert "oc.ABCD" in message
    assert "ca_file" in message
    assert str(missing) in message


def test_ca_file_that_exists(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    assert load_one(tmp_path, f"ca_file = '{ca}'\n").config.ca_file == ca


def test_client_key_needs_client_cert(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("x")
    assert "client_key needs client_cert" in refused(
        tmp_path, f"[oc.ABCD]\n{BASE}client_key = '{key}'\n"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match="cannot read it") as info:
        load_partners(path, {})
    assert str(path) in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    # A directory cannot be read as a file, even by root.
    with pytest.raises(ConfigError, match="cannot read it") as info:
        load_partners(tmp_path, {})
    assert str(tmp_path) in str(info.value)


def test_invalid_toml(tmp_path: Path) -> None:
    message = refused(tmp_path, "[oc.ABCD\nbase_url = \n")
    assert "not valid TOML" in message
    assert str(tmp_path / "partners.toml") in message


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "partners.toml"
    path.write_bytes(f"[oc.ABCD]\n{BASE}# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="partners file"):
        load_partners(path, {})


@pytest.mark.parametrize("value", ['"9999999999d"', "100000000000000000", "inf"])
def test_huge_max_wait_is_a_config_error(tmp_path: Path, value: str) -> None:
    assert "oc.ABCD.max_wait" in refused(tmp_path, f"[oc.ABCD]\n{BASE}max_wait = {value}\n")


def test_negative_max_wait_is_a_config_error(tmp_path: Path) -> None:
    assert "oc.ABCD.max_wait" in refused(tmp_path, f"[oc.ABCD]\n{BASE}max_wait = -60\n")


@pytest.mark.parametrize(
    ("reference", "path"),
    [
        ("INT-1", "INT-1"),
        ("A/B C:1", "A%2FB%20C%3A1"),
        ("../x?y#z", "..%2Fx%3Fy%23z"),
        ("é%", "%C3%A9%25"),
    ],
)
def test_url_percent_encodes_the_reference(tmp_path: Path, reference: str, path: str) -> None:
    partner = load_one(tmp_path, "")
    base = "https://photos.oc.example/cri/v1"
    assert partner.url("intervention", reference) == f"{base}/intervention/{path}/photos"
    assert partner.url("order", reference) == f"{base}/order/{path}/photos"
    assert partner.url("access", reference) == f"{base}/access/{path}/photos"
    assert partner.url("photo", reference) == f"{base}/photo/{path}"


def test_url_honours_path_overrides_and_trailing_slash(tmp_path: Path) -> None:
    text = (
        '[oc.ABCD]\nbase_url = "https://oc.example/api/"\n'
        '[oc.ABCD.paths]\nintervention = "/v2/interventions/{id}/pictures"\n'
        'photo = "/v2/pictures/{id}/content"\n'
    )
    partner = load_partners(write(tmp_path, text), {})["ABCD"]
    assert (
        partner.url("intervention", "A/B")
        == "https://oc.example/api/v2/interventions/A%2FB/pictures"
    )
    assert partner.url("photo", "p1") == "https://oc.example/api/v2/pictures/p1/content"
    assert partner.url("order", "o1") == "https://oc.example/api/order/o1/photos"
