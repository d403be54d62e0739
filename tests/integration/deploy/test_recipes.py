"""Every recipe in docs/deploy runs as shipped: what can run here is run, the rest validated."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.installations import running_installation

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tracker_bridge.demo.installation import Installation

DEPLOY = Path(__file__).resolve().parents[3] / "docs" / "deploy"
VENV_BIN = Path(sys.executable).parent
IN_CI = bool(os.environ.get("CI"))


def clean_environment(extra: dict[str, str]) -> dict[str, str]:
    """The process environment without any TRACKER_BRIDGE_ setting, plus ``extra``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_BRIDGE_")}
    return {**kept, **extra}


def stub_command(folder: Path, name: str, exit_code: int) -> Path:
    """A ``name`` on PATH that writes a line to stderr and exits with ``exit_code``."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = folder / name
    stub.write_text(f"#!/bin/sh\necho 'stub {name} says something' >&2\nexit {exit_code}\n")
    stub.chmod(0o755)
    return folder


# ---------------------------------------------------------------------------- Kubernetes


def kubernetes_documents() -> dict[str, dict[str, Any]]:
    """The recipe's objects by kind."""
    text = (DEPLOY / "kubernetes" / "tracker-bridge.yaml").read_text(encoding="utf-8")
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}


def test_kubernetes_objects_are_valid_and_wired_together() -> None:
    """The Secret, ConfigMap, claim and CronJob parse and refer to each other by name."""
    docs = kubernetes_documents()
    assert {"Secret", "ConfigMap", "PersistentVolumeClaim", "CronJob"} == set(docs)
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert docs["ConfigMap"]["metadata"]["name"] == volumes["config"]["configMap"]["name"]
    assert docs["Secret"]["metadata"]["name"] == container["envFrom"][0]["secretRef"]["name"]
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert docs["PersistentVolumeClaim"]["metadata"]["name"] == claim
    mounted = {m["name"] for m in container["volumeMounts"]}
    assert set(volumes) == mounted


def test_kubernetes_check_passes_with_exactly_the_secret_and_configmap(tmp_path: Path) -> None:
    """`check` with the ConfigMap's file and the Secret (its passphrase filled in) finds no problem.

    The recipe's placeholder passphrase is refused: `check` proves the passphrase unlocks the key.
    """
    docs = kubernetes_documents()
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # The volume, seeded as the recipe says: `init` locally, then gnupg/ and mappings/ copied.
    seeded = tmp_path / "seed"
    init = subprocess.run(
        [str(VENV_BIN / "tracker-bridge"), "init", str(seeded), "--no-interactive"],
        capture_output=True,
        text=True,
        check=False,
        env=clean_environment({"GNUPGHOME": str(tmp_path / "unused")}),
    )
    assert 0 == init.returncode, init.stderr
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(seeded / "mappings", data / "mappings")
    shutil.copytree(seeded / "gnupg", data / "gnupg", ignore=shutil.ignore_patterns("S.*"))
    subprocess.run(
        ["gpgconf", "--homedir", str(seeded / "gnupg"), "--kill", "gpg-agent"], check=False
    )

    def mounted(text: str) -> str:
        return text.replace(mounts["data"], str(data))

    config_dir = tmp_path / "config"
    config_dir.mkdir()
    for name, content in docs["ConfigMap"]["data"].items():
        (config_dir / name).write_text(mounted(content), encoding="utf-8")
    env = {k: mounted(str(v)) for k, v in docs["Secret"]["stringData"].items()}
    env |= {e["name"]: mounted(str(e["value"])) for e in container.get("env", [])}
    config = config_dir / "tracker-bridge.toml"
    assert str(config) == mounted(str(config)).replace(mounts["config"], str(config_dir))

    def check(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        checked = subprocess.run(
            [str(VENV_BIN / "tracker-bridge"), "--config", str(config), "check"],
            capture_output=True,
            text=True,
            check=False,
            env=clean_environment(environment),
        )
        subprocess.run(
            ["gpgconf", "--homedir", str(data / "gnupg"), "--kill", "gpg-agent"], check=False
        )
        return checked

    placeholder = check(env)
    assert 2 == placeholder.returncode, placeholder.stdout + placeholder.stderr
    assert "TRACKER_BRIDGE_OPENPGP__PASSPHRASE" in placeholder.stdout
    # The operator fills the Secret with the passphrase `init` generated, as the recipe says.
    generated = (seeded / "secrets" / "openpgp-passphrase").read_text(encoding="utf-8").strip()
    checked = check(env | {"TRACKER_BRIDGE_OPENPGP__PASSPHRASE": generated})
    assert (0, []) == (
        checked.returncode,
        [line for line in checked.stdout.splitlines() if "password" in line or "missing" in line],
    ), checked.stdout + checked.stderr


@pytest.mark.parametrize(("tracker_bridge_exit", "job_exit"), [(0, 0), (3, 0), (4, 4), (6, 6)])
def test_kubernetes_job_succeeds_on_0_and_3_and_fails_on_alerting_codes(
    tmp_path: Path, tracker_bridge_exit: int, job_exit: int
) -> None:
    """The CronJob's shell wrapper turns 3 into success and passes every alerting code on."""
    docs = kubernetes_documents()
    [container] = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    stubs = stub_command(tmp_path / "bin", "tracker-bridge", tracker_bridge_exit)
    ran = subprocess.run(
        [*container["command"], *container["args"]],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{stubs}:/usr/bin:/bin"},
    )
    assert job_exit == ran.returncode


# ---------------------------------------------------------------------------- GitLab CI


def gitlab_ci() -> dict[str, Any]:
    """The recipe's pipeline."""
    loaded: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "gitlab-ci" / ".gitlab-ci.yml").read_text(encoding="utf-8")
    )
    return loaded


def test_gitlab_ci_jobs_give_the_runner_a_shell() -> None:
    """Every job clears the image's tracker-bridge ENTRYPOINT so the runner's shell runs script."""
    jobs = {name: job for name, job in gitlab_ci().items() if name.startswith("tracker-bridge:")}
    entrypoint = re.search(
        r"^ENTRYPOINT (.+)$", (DEPLOY / "Containerfile").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert entrypoint is not None
    assert {name: [""] for name in jobs} == {
        name: job["image"].get("entrypoint") for name, job in jobs.items()
    }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Installation]:
    """An installation on the GitLab sandbox and aiosmtpd."""
    with running_installation("gitlab", directory=tmp_path / "site") as installation:
        yield installation


def test_gitlab_ci_run_job_script_runs_under_the_images_shell(
    site: Installation, tmp_path: Path
) -> None:
    """The run job's script lines, under /bin/sh -e with the job's variables, check and run a pass."""
    job = gitlab_ci()["tracker-bridge:run"]
    variables = {k: str(v) for k, v in gitlab_ci()["variables"].items()}
    # The runner's persistent BRIDGE_HOME, here the installation's folder (gnupg/, mappings/).
    home = variables["BRIDGE_HOME"]
    env = {k: v.replace(home, str(site.directory)) for k, v in variables.items()}
    # The operations project: tracker-bridge.toml with no secrets; the masked CI/CD variables.
    project = tmp_path / "ops-project"
    project.mkdir()
    config = site.config_path.read_text(encoding="utf-8").replace('token = "sandbox-token"\n', "")
    config = re.sub(r'passphrase_file = ".*"\n', "", config)
    (project / "tracker-bridge.toml").write_text(config, encoding="utf-8")
    env |= {
        "TRACKER_BRIDGE_STORE__URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "TRACKER_BRIDGE_TRACKER__GITLAB__TOKEN": "sandbox-token",
        "TRACKER_BRIDGE_OPENPGP__PASSPHRASE": "demo-bridge-passphrase",
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
    }
    script = "\n".join(["set -e", *job["script"]])
    ran = subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        env=clean_environment(env),
        timeout=120,
    )
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    assert [3] == job["allow_failure"]["exit_codes"]


# ---------------------------------------------------------------------------- systemd


def unit_paths(unit: str, key: str) -> list[str]:
    """Every value of ``key=`` in a unit file, split on spaces."""
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    return [
        part for line in re.findall(rf"^{key}=(.*)$", text, re.MULTILINE) for part in line.split()
    ]


def test_systemd_units_leave_inits_store_and_key_folders_writable(tmp_path: Path) -> None:
    """The store and GnuPG home that `init /etc/tracker-bridge` names are bind-mounted state."""
    made = subprocess.run(
        [
            str(VENV_BIN / "tracker-bridge"),
            "init",
            str(tmp_path / "etc"),
            "--no-key",
            "--no-interactive",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert 0 == made.returncode, made.stderr
    text = (tmp_path / "etc" / "tracker-bridge.toml").read_text(encoding="utf-8")
    store = re.search(r'^url = "sqlite:///([^"]+)"', text, re.MULTILINE)
    home = re.search(r'^home = "([^"]+)"', text, re.MULTILINE)
    assert store is not None
    assert home is not None
    needed = {
        str(Path("/etc/tracker-bridge") / Path(store.group(1)).parent),
        str(Path("/etc/tracker-bridge") / home.group(1)),
    }
    for unit in ("tracker-bridge.service", "tracker-bridge-security-txt.service"):
        states = {f"/var/lib/{name}" for name in unit_paths(unit, "StateDirectory")}
        binds = dict(b.split(":", 1)[::-1] for b in unit_paths(unit, "BindPaths"))
        assert needed <= set(binds), unit
        assert {binds[target] for target in needed} <= states, unit


def systemd_analyze() -> str:
    """The systemd-analyze program; outside CI a machine without it skips."""
    found = shutil.which("systemd-analyze")
    if found is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing in CI (Debian package systemd)")
        pytest.skip("systemd-analyze is not installed")
    return found


@pytest.mark.parametrize(
    "units",
    [
        ("tracker-bridge.service", "tracker-bridge.timer"),
        ("tracker-bridge-security-txt.service", "tracker-bridge-security-txt.timer"),
    ],
)
def test_systemd_units_verify(tmp_path: Path, units: tuple[str, ...]) -> None:
    """systemd-analyze verify finds nothing wrong (ExecStart pointed at this tracker-bridge)."""
    analyze = systemd_analyze()
    for unit in units:
        text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
        (tmp_path / unit).write_text(
            text.replace(
                "/opt/tracker-bridge/venv/bin/tracker-bridge", str(VENV_BIN / "tracker-bridge")
            ),
            encoding="utf-8",
        )
    verified = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit) for unit in units)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (0, "") == (verified.returncode, verified.stderr.strip())


@pytest.mark.parametrize("unit", ["tracker-bridge.service", "tracker-bridge-security-txt.service"])
def test_systemd_units_are_hardened(unit: str) -> None:
    """systemd-analyze security rates each service at most 2.0 ("OK" or better)."""
    analyze = systemd_analyze()
    rated = subprocess.run(
        [analyze, "security", "--offline=true", str(DEPLOY / "systemd" / unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", rated.stdout)
    assert score is not None, rated.stdout[-500:] + rated.stderr
    assert float(score.group(1)) <= 2.0


# ---------------------------------------------------------------------------- cron


@pytest.mark.parametrize(
    ("tracker_bridge_exit", "mails"), [(0, False), (3, False), (5, True), (6, True)]
)
def test_cron_line_mails_only_on_alerting_codes(
    tmp_path: Path, tracker_bridge_exit: int, mails: bool
) -> None:
    """The cron line prints (so cron mails) on 1, 2, 4, 5, 6 and stays quiet on 0 and 3."""
    text = (DEPLOY / "cron" / "tracker-bridge").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if re.match(r"^\*/5 ", line))
    command = line.split(None, 6)[6].replace("/var/lib/tracker-bridge", str(tmp_path))
    stubs = stub_command(tmp_path / "bin", "tracker-bridge", tracker_bridge_exit)
    ran = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": f"{stubs}:/usr/bin:/bin"},
    )
    assert (mails, mails) == (bool(ran.stdout.strip()), f"exit {tracker_bridge_exit}" in ran.stdout)
