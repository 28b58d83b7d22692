"""Fixtures for the governance tests: a small PHI-planted corpus, projects, and a real PostgreSQL.

PostgreSQL: a throw-away cluster is started per test worker from the Debian packages' binaries
(``/usr/lib/postgresql/*/bin`` — ``apt-get install postgresql``), listening on a Unix socket only, and
stopped at the end. Running as root it drops to the ``postgres`` user with ``setpriv`` (the server
refuses to run as root). Missing binaries are an error, not a skip: the PostgreSQL scenario must run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from veil.identity.vault import Credential
from veil.project import Project, init_project
from veil.samples import SampleCorpus, generate_corpus

PASSPHRASE = "correct horse battery staple"
FAST_SCRYPT = 2**12  # tests only: the default N=2^17 costs ~0.3 s per unlock

TEST_TIERS = {
    "open": {"policy": "basic", "level": "expert-determination", "risk": {"k": 1, "required": True},
             "vault": True, "permitted_uses": ["Testing Veil."], "security": ["Keep it on the test machine."]},
    "leaky": {"policy": "policies/leaky.yaml", "level": "limited-data-set", "vault": True},
    "strict": {"policy": "basic", "level": "safe-harbor", "risk": {"k": 11, "max_risk": 0.09}, "vault": False},
}

LEAKY_POLICY = """\
name: leaky
version: "1.0"
profile: ps3.15-basic
description: A site override that (wrongly) keeps the patient's name.
overrides:
  - {keyword: PatientName, action: keep}
"""


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> SampleCorpus:
    return generate_corpus(tmp_path_factory.mktemp("corpus") / "in", patients=3, studies_per_patient=1,
                           series_per_study=1, instances_per_series=2)


def identifiers(corpus: SampleCorpus) -> set[str]:
    """Every original identifier that must never appear in clear in a store: planted values plus UIDs."""
    out = {p.value for p in corpus.key.plants if p.searchable and len(p.value) >= 6}
    for f in corpus.files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        for kw in ("PatientID", "AccessionNumber", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            v = str(ds.get(kw, "") or "")
            if len(v) >= 6:
                out.add(v)
        name = str(ds.get("PatientName", ""))
        out.update(part for part in name.split("^") if len(part) >= 5)
    return out


# --- PostgreSQL --------------------------------------------------------------------------------------


@dataclass
class PgServer:
    bindir: Path
    root: Path
    data: Path
    port: int
    user: str | None

    def admin_url(self, db: str = "postgres") -> str:
        return f"postgresql://veil@/{db}?host={self.root}&port={self.port}"


def _pg_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    pytest.fail("PostgreSQL server binaries not found (initdb): install them with `apt-get install -y postgresql` "
                "(.ci/run does); the PostgreSQL scenario must not be skipped")


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    if user is None:
        return cmd
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--", *cmd]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    bindir = _pg_bindir()
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
            user = "postgres"
        except KeyError:
            user = "nobody"
    root = Path(tempfile.mkdtemp(prefix="veil-pg-", dir="/tmp"))  # short path: Unix socket names are limited
    data = root / "data"
    if user is not None:
        ent = pwd.getpwnam(user)
        os.chown(root, ent.pw_uid, ent.pw_gid)
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    port = 5432
    subprocess.run(_as_user(user, [str(bindir / "initdb"), "-D", str(data), "-U", "veil", "-A", "trust", "-E", "UTF8",
                                   "--locale=C", "--no-sync"]), check=True, capture_output=True, env=env, cwd=root)
    opts = f"-k {root} -c listen_addresses='' -p {port} -F -c fsync=off -c full_page_writes=off"
    started = subprocess.run(_as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                                             "-o", opts, "-w", "-t", "60", "start"]),
                             capture_output=True, env=env, cwd=root)
    if started.returncode != 0:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        pytest.fail(f"could not start PostgreSQL: {started.stderr.decode(errors='replace')}\n{log}")
    try:
        yield PgServer(bindir, root, data, port, user)
    finally:
        subprocess.run(_as_user(user, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, env=env, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def fresh_pg_database(server: PgServer) -> str:
    import psycopg

    name = f"veil_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.admin_url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """(kind, store URL or None for the embedded SQLite store)."""
    if request.param == "sqlite":
        return "sqlite", None
    server = request.getfixturevalue("pg_server")
    return "postgresql", fresh_pg_database(server)


# --- projects ----------------------------------------------------------------------------------------


def make_project(root: Path, *, store: str | None = None, key_file: Path | None = None,
                 tiers: dict | None = None) -> Project:
    creds = [Credential(passphrase=PASSPHRASE)]
    if key_file is not None:
        from veil.identity.vault import create_custodian_key_file

        create_custodian_key_file(key_file)
        creds.append(Credential(key_file=key_file))
    proj = init_project(root, store_url=store, custodians=creds, scrypt_n=FAST_SCRYPT,
                        tiers=tiers if tiers is not None else TEST_TIERS)
    (root / "policies" / "leaky.yaml").write_text(LEAKY_POLICY, encoding="utf-8")
    return proj


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = make_project(tmp_path / "proj", key_file=tmp_path / "custodian" / "key")
    yield proj
    proj.close()
