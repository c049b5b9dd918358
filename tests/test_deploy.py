"""deploy/: the files parse, agree with each other and with the worker. No services needed.

promtool must be on PATH (CI installs it): without it these tests fail, they never skip.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import shlex
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest

from worker.console.guard import Access
from worker.observe.metrics import Metrics
from worker.partners.config import load_partners
from worker.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
WORKER_PORT = 9300
ONE_SHOT = {"minio-setup", "migrate", "traffic"}
CONSOLE_PORT = 8400


def _load_yaml(path: Path) -> list[Any]:
    return list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


@functools.cache
def _compose() -> dict[str, Any]:
    (document,) = _load_yaml(DEPLOY / "compose.yaml")
    return document


def _service(name: str) -> dict[str, Any]:
    return _compose()["services"][name]


@functools.cache
def _k8s() -> dict[tuple[str, str], dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes, by (kind, name)."""
    objects = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in _load_yaml(path):
            if doc.get("kind") != "Kustomization":
                objects[doc["kind"], doc["metadata"]["name"]] = doc
    return objects


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h)", duration)
    assert match, duration
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def _promtool(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not on PATH (apt install prometheus, or CI's setup step)"
    done = subprocess.run(
        [promtool, *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )
    output = (done.stdout + done.stderr).decode()
    assert done.returncode == 0, output
    return output


# ---- every file parses


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml", ".json"}),
    ids=lambda p: str(p.relative_to(DEPLOY)),
)
def test_every_yaml_and_json_file_parses(path: Path) -> None:
    if path.suffix == ".json":
        assert json.loads(path.read_text(encoding="utf-8"))
    else:
        documents = _load_yaml(path)
        assert documents
        assert all(isinstance(doc, dict) for doc in documents)


# ---- Docker image


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = re.sub(r"\\\n", " ", text).splitlines()
    parsed = [line.strip().split(None, 1) for line in lines if line.strip()]
    return [(p[0].upper(), p[1] if len(p) > 1 else "") for p in parsed if not p[0].startswith("#")]


def test_dockerfile_is_a_non_root_slim_multi_stage_image() -> None:
    instructions = _dockerfile()
    values = {name: [args for n, args in instructions if n == name] for name, _ in instructions}
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in [f"ARG {a}" for a in values["ARG"]]
    assert [a.split()[0] for a in values["FROM"]] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert values["EXPOSE"] == [str(WORKER_PORT)]
    (healthcheck,) = values["HEALTHCHECK"]
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert probe[0] == "python"
    assert f"http://127.0.0.1:{WORKER_PORT}/healthz" in probe[-1]
    assert values["STOPSIGNAL"] == ["SIGTERM"]
    assert json.loads(values["ENTRYPOINT"][-1]) == ["worker"]
    assert json.loads(values["CMD"][-1]) == ["run"]
    user = values["USER"][-1].split(":")[0]
    assert user.isdigit(), "a numeric uid, which runAsNonRoot can check"
    assert int(user) != 0
    workdir = values["WORKDIR"][-1]
    assert any(f"-o photo-worker -g photo-worker {workdir}" in run for run in values["RUN"])
    assert f"WORKER_METRICS_PORT={WORKER_PORT}" in " ".join(values["ENV"])


def test_dockerignore_keeps_secrets_and_clutter_out_but_not_the_sources() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {".venv", ".git", "data", ".env"} <= set(patterns)
    copied = [
        args.split()[0]
        for name, args in _dockerfile()
        if name == "COPY" and not args.startswith("--from")
    ]
    assert copied, "the Dockerfile copies the sources from the context"
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, p) for p in patterns), f"{source} is ignored"


# ---- Docker Compose


def test_compose_runs_the_whole_system() -> None:
    services = _compose()["services"]
    assert set(services) >= {
        "rabbitmq",
        "postgres",
        "minio",
        "minio-setup",
        "migrate",
        "worker",
        "worker-review",
        "simulator",
        "traffic",
        "prometheus",
        "grafana",
    }
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["minio-setup"]["image"].startswith("minio/mc")
    assert services["migrate"]["command"] == ["migrate"]
    assert services["simulator"]["command"][0] == "simulator"
    for name in ("migrate", "worker", "worker-review", "simulator", "traffic"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / services[name]["build"]["context"] / "deploy/Dockerfile").is_file()


def test_compose_long_running_services_have_healthchecks() -> None:
    for name, service in _compose()["services"].items():
        if name not in ONE_SHOT:
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
            assert not service["healthcheck"].get("disable"), name


def test_compose_worker_is_healthy_when_ready_and_drains_before_kill() -> None:
    worker = _service("worker")
    assert worker["command"] == ["run"]
    assert f"http://127.0.0.1:{WORKER_PORT}/readyz" in " ".join(worker["healthcheck"]["test"])
    grace = float(worker["environment"]["WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert _seconds(worker["stop_grace_period"]) > grace
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for needed in ("postgres", "rabbitmq"):
        assert worker["depends_on"][needed]["condition"] == "service_healthy"


def test_compose_runs_ingestion_and_review_apart() -> None:
    worker, review = _service("worker"), _service("worker-review")
    assert worker["environment"]["WORKER_ROLES"] == "ingest"
    assert review["environment"]["WORKER_ROLES"] == "review"
    assert review["command"] == ["run"]
    assert int(review["environment"]["WORKER_REVIEW_PROCESSES"]) >= 1
    assert f"http://127.0.0.1:{WORKER_PORT}/readyz" in " ".join(review["healthcheck"]["test"])
    for name in ("worker", "worker-review"):  # the same database, store and broker
        env = _service(name)["environment"]
        assert env["WORKER_DATABASE_URL"] == worker["environment"]["WORKER_DATABASE_URL"]
        assert env["WORKER_STORAGE_URL"] == worker["environment"]["WORKER_STORAGE_URL"]
    (scrape,) = [
        job
        for job in _load_yaml(DEPLOY / "compose/prometheus.yml")[0]["scrape_configs"]
        if job["job_name"] == "photo-worker"
    ]
    assert set(scrape["dns_sd_configs"][0]["names"]) == {"worker", "worker-review"}


def test_compose_dependencies_wait_for_what_their_targets_provide() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for target, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "test" in services[target].get("healthcheck", {}), f"{name} -> {target}"
            elif how["condition"] == "service_completed_successfully":
                assert target in ONE_SHOT
                assert services[target]["restart"] == "no"


def test_compose_mounted_files_exist() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_compose_worker_environment_and_partners_file_load(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _service("worker")["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(_env_file=None)
    assert settings.storage_url == "s3://stoc-photos/compose"
    assert settings.require_oi_code() == "OI01"
    assert "/etc/photo-worker/partners.toml:ro" in " ".join(_service("worker")["volumes"])
    partners = load_partners(DEPLOY / "compose/partners.toml", env)
    assert {str(p.config.base_url) for p in partners.values()} == {"http://simulator:8080/"}


def test_compose_simulator_accepts_the_workers_credentials() -> None:
    flags = dict(
        arg.removeprefix("--").split("=", 1) for arg in _service("simulator")["command"][1:]
    )
    env = _service("worker")["environment"]
    assert flags["client-id"] == env["WORKER_OI_CODE"]
    client_id, secret = flags["oauth-client"].split(":", 1)
    for partner in load_partners(DEPLOY / "compose/partners.toml", env).values():
        if partner.config.oauth2 is not None:
            assert partner.config.oauth2.client_id == client_id
            assert partner.client_secret is not None
            assert partner.client_secret.get_secret_value() == secret
        else:
            assert partner.token is not None
            assert partner.token.get_secret_value() == flags["token"]


def test_compose_traffic_loops_over_scenarios_of_known_ocs() -> None:
    (script,) = _service("traffic")["command"]
    assert "$" not in script.replace("$$", ""), "Compose interpolates $: the shell's are $$"
    sends = [shlex.split(line) for line in script.splitlines() if "worker send" in line]
    assert len(sends) >= 5
    assert "sleep 20" in script
    known = set(load_partners(DEPLOY / "compose/partners.toml", _service("worker")["environment"]))
    ocs = {args[args.index("--oc") + 1] for args in sends}
    assert ocs - known == {"ZZZZ"}, "known OCs, plus one unknown: a dead letter"


def test_compose_console_starts_signed_in_and_published_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    console = _service("console")
    assert console["command"] == ["console"]
    env = console["environment"]
    workers = {k: v for k, v in _service("worker")["environment"].items() if k != "WORKER_ROLES"}
    assert {k: v for k, v in env.items() if not k.startswith("WORKER_CONSOLE_")} == workers, (
        "the workers' settings (database, storage, broker), and its own"
    )
    # No password ships: Compose asks for one (and refuses to start without it).
    assert env["WORKER_CONSOLE_PASSWORD"].startswith("${WORKER_CONSOLE_PASSWORD:?")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WORKER_CONSOLE_PASSWORD", "a-secret-of-the-operator")
    settings = load_settings(_env_file=None)
    access = Access.from_settings(settings)  # raises on a public bind without sign-in
    assert settings.console_host == "0.0.0.0"
    assert access.password == "a-secret-of-the-operator"
    assert access.hosts == {"localhost", "127.0.0.1", "::1"}, "published on loopback only"
    assert console["ports"] == [f"127.0.0.1:{CONSOLE_PORT}:{settings.console_port}"]
    probe = " ".join(console["healthcheck"]["test"])
    assert f"http://127.0.0.1:{settings.console_port}/healthz" in probe
    assert console["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


# ---- Kubernetes


def _container(spec: dict[str, Any], name: str, kind: str = "containers") -> dict[str, Any]:
    (found,) = [c for c in spec[kind] if c["name"] == name]
    return found


def _probe(container: dict[str, Any], probe: str) -> tuple[str, int]:
    get = container[probe]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return get["path"], ports.get(get["port"], get["port"])


def test_k8s_deployment_probes_and_shutdown_grace() -> None:
    deployment = _k8s()["Deployment", "photo-worker"]
    config = _k8s()["ConfigMap", "photo-worker-config"]["data"]
    pod = deployment["spec"]["template"]["spec"]
    worker = _container(pod, "worker")
    assert deployment["spec"]["replicas"] == 2
    assert worker["args"] == ["run"]
    assert _probe(worker, "livenessProbe") == ("/healthz", WORKER_PORT)
    assert _probe(worker, "readinessProbe") == ("/readyz", WORKER_PORT)
    assert pod["terminationGracePeriodSeconds"] > float(config["WORKER_SHUTDOWN_GRACE_SECONDS"])
    assert config["WORKER_METRICS_PORT"] == str(WORKER_PORT)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(WORKER_PORT)
    migrate = _container(pod, "migrate", "initContainers")
    assert migrate["args"] == ["migrate"]
    assert migrate["image"] == worker["image"]


def test_k8s_pods_run_non_root_read_only_with_resources() -> None:
    for kind, name in (
        ("Deployment", "photo-worker"),
        ("Deployment", "photo-worker-review"),
        ("Job", "photo-worker-migrate"),
        ("Deployment", "photo-worker-console"),
    ):
        pod = _k8s()[kind, name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"] + pod.get("initContainers", []):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
    pod = _k8s()["Deployment", "photo-worker"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (tmp,) = [m for m in _container(pod, "worker")["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert "emptyDir" in volumes[tmp["name"]]


def test_k8s_references_resolve_and_the_partners_file_loads(tmp_path: Path) -> None:
    objects = _k8s()
    pod = objects["Deployment", "photo-worker"]["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        for source in container["envFrom"]:
            kind, ref = next(iter(source.items()))
            assert (
                {"configMapRef": "ConfigMap", "secretRef": "Secret"}[kind],
                ref["name"],
            ) in objects
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in _container(pod, "worker")["volumeMounts"] if m["name"] == "partners"]
    secret = objects["Secret", volumes["partners"]["secret"]["secretName"]]["stringData"]
    (item,) = volumes["partners"]["secret"]["items"]
    config = objects["ConfigMap", "photo-worker-config"]["data"]
    assert config["WORKER_PARTNERS_FILE"] == f"{mount['mountPath']}/{item['path']}"
    env = objects["Secret", "photo-worker-env"]["stringData"]
    (tmp_path / "partners.toml").write_text(secret[item["key"]], encoding="utf-8")
    assert load_partners(tmp_path / "partners.toml", env)
    assert all(
        o["metadata"].get("namespace") == "photo-worker"
        for k, o in objects.items()
        if k[0] != "Namespace"
    )


def test_k8s_purge_runs_nightly_one_at_a_time_with_the_workers_settings() -> None:
    objects = _k8s()
    cronjob = objects["CronJob", "photo-worker-purge"]["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    (purge,) = pod["containers"]
    worker = _container(objects["Deployment", "photo-worker"]["spec"]["template"]["spec"], "worker")
    assert purge["args"] == ["purge"]
    assert purge["image"] == worker["image"]
    assert purge["envFrom"] == worker["envFrom"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert purge["securityContext"]["readOnlyRootFilesystem"] is True
    assert purge["resources"]["limits"]
    config = objects["ConfigMap", "photo-worker-config"]["data"]
    keep = {k.removeprefix("WORKER_").lower(): v for k, v in config.items() if "_KEEP_" in k}
    settings = Settings(_env_file=None, **keep)  # type: ignore[call-arg]
    assert settings.keep_attempts == timedelta(days=90)
    assert settings.keep_finished is None


def _console_pod() -> dict[str, Any]:
    pod: dict[str, Any] = _k8s()["Deployment", "photo-worker-console"]["spec"]["template"]["spec"]
    return pod


def test_k8s_console_trusts_the_ingress_only_and_probes_its_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = _k8s()
    deployment = objects["Deployment", "photo-worker-console"]
    console = _container(_console_pod(), "console")
    assert console["args"] == ["console"]
    assert console["image"] == _container(_pod(), "worker")["image"]
    env = {e["name"]: e["value"] for e in console["env"] if "value" in e}
    config = objects["ConfigMap", "photo-worker-config"]["data"]
    secret = objects["Secret", "photo-worker-env"]["stringData"]
    for key, value in {**config, **secret, **env}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(_env_file=None)
    access = Access.from_settings(settings)  # raises without the proxies' addresses
    assert access.trusted_header == "X-Auth-Request-User"
    assert access.trusted_proxies
    # The host name and the origin the browser sees: the ingress's.
    ingress = objects["Ingress", "photo-worker-console"]["spec"]
    public = ingress["rules"][0]["host"]
    assert access.hosts == {public}
    assert settings.console_public_origin == f"https://{public}"
    assert public in ingress["tls"][0]["hosts"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _probe(console, probe) == ("/healthz", settings.console_port)
    # The thumbnail cache is on a volume: the root filesystem is read-only.
    mounts = {m["mountPath"]: m["name"] for m in console["volumeMounts"]}
    volumes = {v["name"]: v for v in _console_pod()["volumes"]}
    cache = settings.console_thumbnail_dir
    (mount,) = [path for path in mounts if cache.is_relative_to(path)]
    assert "emptyDir" in volumes[mounts[mount]]
    # Only the ingress controller reaches the pods, so the header cannot be forged.
    policy = objects["NetworkPolicy", "photo-worker-console"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"][0]["namespaceSelector"]
    service = objects["Service", "photo-worker-console"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    assert deployment["spec"]["replicas"] == 1


def test_k8s_console_ingress_example_passes_the_signed_in_user() -> None:
    ingress = _k8s()["Ingress", "photo-worker-console"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/auth-response-headers"] == (
        "X-Auth-Request-User"
    )
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert ("Service", backend["name"]) in _k8s()
    assert (
        "console-ingress.example.yaml" not in (DEPLOY / "kubernetes/kustomization.yaml").read_text()
    )


def _pod() -> dict[str, Any]:
    pod: dict[str, Any] = _k8s()["Deployment", "photo-worker"]["spec"]["template"]["spec"]
    return pod


def test_keda_scales_the_deployment_on_the_work_queue() -> None:
    objects = _k8s()
    scaled = objects["ScaledObject", "photo-worker"]["spec"]
    assert ("Deployment", scaled["scaleTargetRef"]["name"]) in objects
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 10)
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == "photos.cr_stoc"
    assert all(isinstance(v, str) for v in trigger["metadata"].values()), "the CRD wants strings"
    auth = objects["TriggerAuthentication", trigger["authenticationRef"]["name"]]["spec"]
    (host,) = auth["secretTargetRef"]
    assert host["parameter"] == "host"
    assert host["key"] == "WORKER_AMQP_URL"
    assert host["key"] in objects["Secret", host["name"]]["stringData"]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def test_k8s_ingestion_and_review_run_as_two_deployments() -> None:
    objects = _k8s()
    ingest = _container(objects["Deployment", "photo-worker"]["spec"]["template"]["spec"], "worker")
    review_pod = objects["Deployment", "photo-worker-review"]["spec"]["template"]["spec"]
    review = _container(review_pod, "worker")
    assert _env(ingest)["WORKER_ROLES"] == "ingest"
    assert _env(review)["WORKER_ROLES"] == "review"
    assert review["args"] == ["run"]
    assert review["image"] == ingest["image"]
    assert review["envFrom"] == ingest["envFrom"]
    assert _probe(review, "readinessProbe") == ("/readyz", WORKER_PORT)
    # Each decoding process may reach its address-space cap: the limit leaves room for them.
    processes = int(_env(review)["WORKER_REVIEW_PROCESSES"])
    assert int(review["resources"]["limits"]["cpu"]) >= processes
    selector = objects["Deployment", "photo-worker-review"]["spec"]["selector"]["matchLabels"]
    assert selector != objects["Deployment", "photo-worker"]["spec"]["selector"]["matchLabels"]


def test_keda_scales_the_review_on_its_backlog_in_postgresql() -> None:
    objects = _k8s()
    scaled = objects["ScaledObject", "photo-worker-review"]["spec"]
    assert scaled["scaleTargetRef"]["name"] == "photo-worker-review"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "postgresql"
    assert "FROM request_reviews WHERE reviewed_at IS NULL" in trigger["metadata"]["query"]
    assert all(isinstance(v, str) for v in trigger["metadata"].values()), "the CRD wants strings"
    auth = objects["TriggerAuthentication", trigger["authenticationRef"]["name"]]["spec"]
    (connection,) = auth["secretTargetRef"]
    assert connection["parameter"] == "connection"
    assert connection["key"] == "WORKER_DATABASE_URL"
    assert connection["key"] in objects["Secret", connection["name"]]["stringData"]


def test_kustomization_lists_existing_manifests() -> None:
    (kustomization,) = _load_yaml(DEPLOY / "kubernetes/kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file(), resource


# ---- metrics used by the alert rules and the dashboard


_SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_sum", "_count", "_created"],
}
_PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


@functools.cache
def _worker_metric_names() -> frozenset[str]:
    """Every series name the worker can expose (labelled metrics have no samples yet)."""
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, []))
        names.update(sample.name for sample in family.samples)
    return frozenset(names)


def _promql_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression (Grafana variables allowed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\$\{[^}]*\}|\$\w+", "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"\b([a-zA-Z_:][\w:]*)\b(?!\s*\()", expr))
    return names - _PROMQL_WORDS


def _alert_exprs() -> dict[str, str]:
    (rules,) = _load_yaml(DEPLOY / "prometheus/alerts.yml")
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [q for p in panels for q in [p, *_panels(p.get("panels", []))]]


def _dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana/photo-worker.json").read_text(encoding="utf-8"))


def _dashboard_exprs() -> dict[str, str]:
    dashboard = _dashboard()
    exprs = {
        f"{p['title']} {t['refId']}": t["expr"]
        for p in _panels(dashboard["panels"])
        for t in p.get("targets", [])
    }
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            metric = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
            assert metric, variable["definition"]
            exprs[f"${variable['name']}"] = metric.group(1)
    return exprs


def test_promql_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (oc, le) (rate(a_bucket{oc=~"$oc"}[$__rate_interval])))'
    assert _promql_names(expr) == {"a_bucket"}
    assert _promql_names('max(b{q="x"}) > 0 and sum(rate(c_total[10m])) == 0 or absent(up)') == {
        "b",
        "c_total",
        "up",
    }


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_use_metrics_the_worker_exposes(source: str) -> None:
    exprs = _alert_exprs() if source == "alerts" else _dashboard_exprs()
    known = _worker_metric_names() | {"up"}
    unknown = {where: _promql_names(e) - known for where, e in exprs.items()}
    assert not {where: names for where, names in unknown.items() if names}
    assert all(_promql_names(e) for e in exprs.values())


def test_dashboard_shows_every_worker_metric() -> None:
    used = set().union(*map(_promql_names, _dashboard_exprs().values()))
    families = {f.name for f in Metrics().registry.collect()}
    missing = {f for f in families if not any(name.startswith(f) for name in used)}
    assert not missing


def test_dashboard_uses_the_datasource_variable_and_has_unique_ids() -> None:
    dashboard = _dashboard()
    assert "DS_PROMETHEUS" in {v["name"] for v in dashboard["templating"]["list"]}
    panels = _panels(dashboard["panels"])
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [
        (x, y)
        for g in (p["gridPos"] for p in panels)
        for x in range(g["x"], g["x"] + g["w"])
        for y in range(g["y"], g["y"] + g["h"])
    ]
    assert len(set(cells)) == len(cells), "panels overlap"
    assert all(x < 24 for x, _ in cells)
    for panel in panels:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


# ---- promtool


def test_promtool_checks_the_alert_rules() -> None:
    assert "SUCCESS" in _promtool("check", "rules", str(DEPLOY / "prometheus/alerts.yml"))


def test_promtool_unit_tests_of_the_alerts(tmp_path: Path) -> None:
    # promtool compares annotations whole: the tests check labels, on rules without annotations.
    (rules,) = _load_yaml(DEPLOY / "prometheus/alerts.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    shutil.copy(DEPLOY / "prometheus/alerts.test.yml", tmp_path)
    _promtool("test", "rules", "alerts.test.yml", cwd=tmp_path)
    (tests,) = _load_yaml(DEPLOY / "prometheus/alerts.test.yml")
    tested = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"]}
    assert tested == set(_alert_exprs())


def test_promtool_checks_the_compose_prometheus_config(tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "compose/prometheus.yml", tmp_path)
    shutil.copy(DEPLOY / "prometheus/alerts.yml", tmp_path)
    _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    (config,) = _load_yaml(DEPLOY / "compose/prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "photo-worker"]
    assert job["dns_sd_configs"][0]["port"] == WORKER_PORT


def test_promtool_parses_the_dashboard_queries(tmp_path: Path) -> None:
    def concrete(expr: str) -> str:
        return expr.replace("$__rate_interval", "5m").replace("$oc", ".*")

    rules = [
        {"record": f"dashboard:query_{i}", "expr": concrete(expr)}
        for i, expr in enumerate(_dashboard_exprs().values())
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}), encoding="utf-8")
    _promtool("check", "rules", str(path))


def test_promtool_accepts_the_worker_exposition() -> None:
    _promtool("check", "metrics", stdin=generate_latest(Metrics().registry))


# ---- systemd


def test_systemd_unit_waits_longer_than_the_shutdown_grace() -> None:
    unit = (DEPLOY / "photo-worker.service").read_text(encoding="utf-8")
    env = (DEPLOY / "worker.env.example").read_text(encoding="utf-8")
    timeout = re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    grace = re.search(r"^WORKER_SHUTDOWN_GRACE_SECONDS=(\d+)$", env, re.M)
    assert timeout
    assert grace
    assert int(timeout.group(1)) > int(grace.group(1))
    assert "KillSignal=SIGTERM" in unit
