"""A Veil project: the folder that holds everything a release needs except the data and the custodian key.

Governance has to be enforced, not aspirational (issue 8): who may release what, at which level and
under which terms is written down once, in the project, and every command reads it from there instead of
from flags a user could change on a whim. A project folder holds::

    veil-project.yaml        name, store URL, tiers (policy + risk thresholds + terms per tier)
    policies/*.yaml          the tiers' policies (sites edit them; their hashes go into every release)
    .veil/secret.key         the pseudonymisation secret (0600): pseudonyms, UIDs, date offsets
    .veil/signing.key|.pub   the Ed25519 key that signs release manifests (private key 0600)
    .veil/audit.jsonl        the hash-chained audit log, keyed with the secret (``veil audit verify .``)
    .veil/store.sqlite       the store: release register and identity vault (or a PostgreSQL URL)
    releases/NNNN/           published releases, immutable
    failed/NNNN/             refused releases with their findings, for review

The custodian key that opens the identity vault is deliberately *not* here: a passphrase, or a key file
kept elsewhere (GDPR Art. 4(5): the additional information is kept separately).
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from veil import __version__
from veil.errors import SecretError, VeilError
from veil.identity.keyed import Keyed
from veil.release.tiers import DEFAULT_POLICIES, DEFAULT_TIERS, Tier, TierError, parse_tiers

CONFIG_NAME = "veil-project.yaml"
STATE = ".veil"
ENV_PROJECT = "VEIL_PROJECT"
ENV_STORE = "VEIL_STORE_URL"
FORMAT = 1


class ProjectError(VeilError):
    """No project here, or its config is invalid (names the file and key)."""


@dataclass
class Project:
    """An opened project. The store connection is opened on first use and closed by :meth:`close`."""

    root: Path
    name: str
    tiers: dict[str, Tier]
    store_url: str
    config: dict[str, Any] = field(default_factory=dict)
    _db: Any = None

    # paths

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def secret_path(self) -> Path:
        return self.root / STATE / "secret.key"

    @property
    def signing_key_path(self) -> Path:
        return self.root / STATE / "signing.key"

    @property
    def signing_pub_path(self) -> Path:
        return self.root / STATE / "signing.pub"

    @property
    def audit_path(self) -> Path:
        return self.root / STATE / "audit.jsonl"

    @property
    def releases_dir(self) -> Path:
        return self.root / "releases"

    @property
    def failed_dir(self) -> Path:
        return self.root / "failed"

    @property
    def staging_dir(self) -> Path:
        return self.root / STATE / "staging"

    # keys and store

    def secret(self) -> bytes:
        """The pseudonymisation secret: the project's key file, else ``VEIL_SECRET``. Both, and different: an
        error. Pseudonyms, UIDs, dates and the audit chain must all come from one secret; with both set,
        deid keyed with the variable and the project's log and releases with the file (red team)."""
        from veil.errors import SecretMismatch
        from veil.identity.secret import ENV_VAR, load_secret

        if not os.environ.get(ENV_VAR):
            return load_secret(self.secret_path)
        if not self.secret_path.is_file():
            return load_secret(None)
        own, env = load_secret(self.secret_path), load_secret(None)
        if own != env:
            raise SecretMismatch(f"{ENV_VAR} is set and differs from the project's secret {self.secret_path}: unset "
                              f"{ENV_VAR} inside project {self.name}, or run outside it")
        return own

    def keyed(self) -> Keyed:
        return Keyed(self.secret())

    def audit_key(self) -> bytes:
        """The audit chain's HMAC key: the same derivation as ``veil deid`` (``veil audit verify`` works)."""
        return self.keyed().digest("audit-chain", "")

    def db(self) -> Any:
        """The store (:class:`veil.release.store.Database`), opened once."""
        if self._db is None:
            from veil.release.store import connect

            self._db = connect(self.store_url)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def tier(self, name: str) -> Tier:
        try:
            return self.tiers[name]
        except KeyError:
            raise ProjectError(f"no tier {name!r} in {self.config_path}; tiers: {', '.join(self.tiers)}") from None

    # audit

    def audit(self, action: str, *, purpose: str = "", policy_hash: str = "", counts: Mapping[str, int] | None = None,
              extra: Mapping[str, object] | None = None, user: str | None = None, keep: Sequence[Path] = ()) -> str:
        """Append one hash-chained, keyed entry to the project's audit log; returns its hash.

        ``extra`` must never hold an original identifier: the log is shown to reviewers. The command's paths
        are keyed tokens but `keep`'s (:func:`veil.audit.command_line`).
        """
        from veil.audit import AuditEntry, append, command_line
        from veil.release.store import redact_url

        argv = [redact_url(a) if "://" in a else a for a in sys.argv[1:]]  # no database password in the log
        entry = AuditEntry(command=command_line(argv, self.audit_key(), keep=[self.root, *keep]), purpose=purpose,
                           policy_hash=policy_hash, counts=dict(counts or {}),
                           extra={"action": action, "project": self.name, "veil_version": __version__,
                                  **dict(extra or {})})
        rec = append(self.audit_path, entry, key=self.audit_key(), user=user)
        return str(rec["hash"])

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def who() -> str:
    """``user@host`` of the person running the command (recorded in manifests and the audit log)."""
    try:
        user = getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def find_project(start: Path | None = None) -> Path:
    """The project folder: ``start`` if given, else ``$VEIL_PROJECT``, else the nearest parent of the cwd
    that holds ``veil-project.yaml``."""
    if start is not None:
        start = Path(start)
        if not (start / CONFIG_NAME).is_file():
            raise ProjectError(f"{start} is not a Veil project (no {CONFIG_NAME}); create one with "
                               "`veil init-project PATH`")
        return start.resolve()
    env = os.environ.get(ENV_PROJECT)
    if env:
        return find_project(Path(env))
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / CONFIG_NAME).is_file():
            return d
    raise ProjectError(f"no Veil project in {here} or its parents; pass --project PATH, set {ENV_PROJECT}, or "
                       "create one with `veil init-project PATH`")


def command_secret(key_file: Path | None = None) -> bytes:
    """The secret a command keys with: ``--key-file``, else the active project's (:meth:`Project.secret`),
    else ``VEIL_SECRET``, then ``./.veil/secret.key``. One rule for every command (deid, verify, audit,
    review, risk), so that a project's outputs, releases and audit log share one secret."""
    from veil.errors import SecretMismatch
    from veil.identity.secret import load_secret

    try:
        project = load_project()
    except ProjectError:
        project = None
    if project is None:
        return load_secret(key_file)
    own = project.secret()
    if key_file is not None and load_secret(key_file) != own:  # pseudonyms keyed with one, the log with the other
        raise SecretMismatch(f"{key_file} is not the secret of project {project.name} ({project.secret_path}): "
                             "inside a project every command keys with its secret; run outside it")
    return own


def load_project(path: Path | None = None) -> Project:
    """Open the project at ``path`` (or found from the cwd) and validate its config."""
    root = find_project(path)
    cfg_path = root / CONFIG_NAME
    try:
        data = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProjectError(f"{cfg_path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProjectError(f"{cfg_path}: expected a mapping with `name`, `store` and `tiers`")
    unknown = set(data) - {"name", "format", "store", "tiers"}
    if unknown:
        raise ProjectError(f"{cfg_path}: unknown key(s) {', '.join(sorted(unknown))}; expected name, format, "
                           "store, tiers")
    if data.get("format", FORMAT) != FORMAT:
        raise ProjectError(f"{cfg_path}: format {data.get('format')!r} is not supported by Veil {__version__}")
    try:
        tiers = parse_tiers(data.get("tiers"))
    except TierError as exc:
        raise ProjectError(f"{cfg_path}: {exc}") from exc
    from veil.release.store import default_url

    store = os.environ.get(ENV_STORE) or data.get("store") or "sqlite"
    if not isinstance(store, str):
        raise ProjectError(f"{cfg_path}: `store` must be 'sqlite' or a sqlite:/// or postgresql:// URL")
    if store == "sqlite":
        store = default_url(root)
    elif store.startswith("sqlite:///") and not store.startswith("sqlite:////"):
        rel = store.removeprefix("sqlite:///")
        store = f"sqlite:///{(root / rel).resolve()}"
    name = data.get("name") or root.name
    return Project(root=root, name=str(name), tiers=tiers, store_url=store, config=data)


def init_project(path: Path, *, name: str | None = None, store_url: str | None = None,
                 custodians: Iterable[Any] = (), scrypt_n: int | None = None,
                 tiers: Mapping[str, Any] | None = None) -> Project:
    """Create a project folder: config with the default tiers and their policies, secret, signing key,
    store (release register + identity vault) and audit log.

    ``custodians`` are :class:`veil.identity.vault.Credential` values; without any, no vault is created and
    tiers that write one refuse to release until a vault exists. Refuses to touch an existing project.
    ``store_url`` is written into the config (``sqlite`` by default); keep passwords out of it and use
    ``VEIL_STORE_URL`` or a ``~/.pgpass`` file instead.
    """
    from veil.identity.secret import ENV_VAR, create_key_file, load_secret
    from veil.identity.vault import SCRYPT_N, Vault
    from veil.release.sign import generate_keypair

    root = Path(path)
    if (root / CONFIG_NAME).exists():
        raise ProjectError(f"{root} is already a Veil project")
    if (root / STATE / "secret.key").exists():
        raise SecretError(f"{root / STATE / 'secret.key'} already exists; refusing to create a project over it")
    root.mkdir(parents=True, exist_ok=True)
    (root / "policies").mkdir(exist_ok=True)
    for fname, text in DEFAULT_POLICIES.items():
        target = root / "policies" / fname
        if not target.exists():
            target.write_text(text, encoding="utf-8")
    config = {
        "name": name or root.resolve().name,
        "format": FORMAT,
        "store": store_url or "sqlite",
        "tiers": dict(tiers) if tiers is not None else DEFAULT_TIERS,
    }
    parse_tiers(config["tiers"])  # validate before writing anything that cannot be undone
    header = ("# Veil project. Tiers bind a policy, risk thresholds and data-use terms; edit policies/ to change\n"
              "# what a tier keeps. The store is 'sqlite' (embedded) or a postgresql:// URL (or $VEIL_STORE_URL).\n")
    (root / CONFIG_NAME).write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                    encoding="utf-8")
    # $VEIL_SECRET set: the project keeps it (its pseudonyms continue those of the runs made with it), so that
    # commands inside the project do not meet two secrets (Project.secret refuses that)
    create_key_file(root / STATE / "secret.key", value=load_secret(None) if os.environ.get(ENV_VAR) else None)
    os.chmod(root / STATE, 0o700)
    generate_keypair(root / STATE / "signing.key", root / STATE / "signing.pub")
    (root / "releases").mkdir(exist_ok=True)
    (root / "failed").mkdir(exist_ok=True)
    project = load_project(root)
    creds = list(custodians)
    vault_slots = 0
    if creds:
        db = project.db()
        if Vault.exists(db):
            raise ProjectError(f"the store {project.store_url} already holds a vault of another project; "
                               "give each project its own database")
        vault = Vault.create(db, project.secret(), creds, scrypt_n=scrypt_n or SCRYPT_N)
        vault_slots = len(vault.slots())
    else:
        project.db()  # create the register
    from veil.release.sign import fingerprint
    from veil.release.store import redact_url

    project.audit("project-init", purpose="create project", counts={"custodian_slots": vault_slots},
                  extra={"store": redact_url(project.store_url), "tiers": sorted(project.tiers),
                         "signing_key": fingerprint(project.signing_pub_path.read_bytes())})
    return project
